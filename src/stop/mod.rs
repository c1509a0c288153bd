//! Stopping the program a PID file names: signal schedules over a pidfd.
//!
//! [`Schedule`] follows start-stop-daemon's `--retry` syntax: `30` means `TERM/30/KILL/5`
//! (the signal given replaces `TERM`); otherwise a `/`-separated list of signals (`TERM`,
//! `-9`, `-USR1`), waits in seconds (`30`, `0.5`) and at most one `forever`, after which the
//! rest of the schedule repeats until the process is gone (at the end, the last signal and
//! wait repeat).
//!
//! [`stop`] never signals a bare PID. It reads the file ([`crate::pidfile::status`]), refuses
//! files that someone else could have written (the rules are in `stop/trust.rs`: a
//! world-writable file, a file owned by a third user, a file writable by a foreign group, a
//! directory others may write to without the sticky bit), refuses PID 1, itself and its
//! parent whatever the file says, opens a pidfd, confirms that the file still names that process (still locked, or for a
//! foreign file, a process older than the file), and only then sends through the pidfd. After
//! each catchable signal it sends `SIGCONT`, so a stopped process can act on it. Waits poll
//! the pidfd: `stop` returns the moment the process is gone, and a zombie is gone.
//!
//! A signal or a wait whose system call fails is tried again (5 tries, 10 ms apart); one
//! that still fails does not end the stop: the schedule goes on to its last step (`KILL`),
//! and the failure is reported only if the process outlives the whole schedule.
//!
//! "Not running" is an answer only when the file says so (absent, or stale). Whenever the file
//! cannot be read, holds no PID, or changed to name another process while `stop` looked, the
//! answer is [`Error::CannotTell`]: a caller must never read "nothing to stop" into a file it
//! could not check.

use std::path::Path;

use crate::Signal;
use crate::pidfd::PidFd;
use crate::pidfile::{self, Status};
use crate::supervise::retry::{retry, retry_except};

mod error;
mod schedule;
pub(crate) mod trust;

pub use error::{Error, ScheduleProblem, Stage, Untrusted};
pub use schedule::{Schedule, Step};

/// How [`stop`] went, when it could act.
#[derive(Debug)]
pub enum Outcome {
    /// The process is gone.
    Stopped {
        /// Its PID.
        pid: u32,
        /// The signals sent, in order (SIGCONT follow-ups left out).
        sent: Vec<Signal>,
    },
    /// The schedule has no waits: the signal was delivered and the process may live on.
    Signalled {
        /// Its PID.
        pid: u32,
        /// The signals sent.
        sent: Vec<Signal>,
    },
    /// Nothing was running: the file is absent or stale (nothing was signalled).
    NotRunning(Status),
    /// The whole schedule ran and the process is still alive.
    StillRunning {
        /// Its PID.
        pid: u32,
        /// The signals sent.
        sent: Vec<Signal>,
    },
    /// Dry run: this is what would be sent.
    WouldSend {
        /// The PID that would be signalled.
        pid: u32,
        /// The schedule that would run.
        schedule: Schedule,
    },
}

/// Options for [`stop`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The schedule. Default: `TERM/30/KILL/5`.
    pub schedule: Schedule,
    /// Remove the PID file once the process is gone (only if it is unlocked and still the
    /// same file), and remove a stale one.
    pub remove_pidfile: bool,
    /// Only say what would be sent.
    pub dry_run: bool,
}

/// Stop the program that the PID file at `path` names; see the module docs.
///
/// ```
/// use pidward::stop::{stop, Options, Outcome};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("sleeper.pid");
/// let child = std::process::Command::new("sleep").arg("30").spawn()?;
/// std::fs::write(&path, format!("{}\n", child.id()))?;
/// let outcome = stop(&path, &Options::default())?;
/// assert!(matches!(outcome, Outcome::Stopped { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn stop(path: impl AsRef<Path>, opts: &Options) -> Result<Outcome, Error> {
    let path = path.as_ref();
    let (pid, pidfd) = match pin(path, opts)? {
        Pinned::Target(pid, pidfd) => (pid, pidfd),
        Pinned::Done(outcome) => return Ok(outcome),
    };
    if opts.dry_run {
        return Ok(Outcome::WouldSend {
            pid,
            schedule: opts.schedule.clone(),
        });
    }
    let wait_err = |source| Error::Io {
        path: path.to_owned(),
        step: Stage::Wait,
        source,
    };
    let mut sent = Vec::new();
    let mut gone = false;
    // A call that fails at every try does not end the stop: the schedule goes on (the next
    // wait, the next signal, KILL), and the failure is the answer only if the process
    // outlives it all.
    let mut failed: Option<Error> = None;
    for step in opts.schedule.run_order() {
        match step {
            Step::Signal(signal) => match send_confirmed(&pidfd, signal) {
                Ok(()) => sent.push(signal),
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                    gone = true;
                    break;
                }
                // Not permitted is an answer that no later step changes.
                Err(source) if source.raw_os_error() == Some(libc::EPERM) => {
                    return Err(Error::Signal {
                        pid,
                        signal,
                        source,
                    });
                }
                Err(source) => {
                    failed.get_or_insert(Error::Signal {
                        pid,
                        signal,
                        source,
                    });
                }
            },
            Step::Wait(d) => match wait(&pidfd, d) {
                Ok(true) => {
                    gone = true;
                    break;
                }
                Ok(false) => {}
                Err(source) => {
                    failed.get_or_insert(wait_err(source));
                }
            },
            Step::Forever => {}
        }
    }
    if !gone && opts.schedule.waits() {
        match exited(&pidfd) {
            Ok(exited) => gone = exited,
            Err(source) => return Err(failed.unwrap_or(wait_err(source))),
        }
    }
    if let (false, Some(e)) = (gone, failed) {
        return Err(e);
    }
    if gone {
        if opts.remove_pidfile {
            remove_if_unlocked(path)?;
        }
        Ok(Outcome::Stopped { pid, sent })
    } else if opts.schedule.waits() {
        Ok(Outcome::StillRunning { pid, sent })
    } else {
        Ok(Outcome::Signalled { pid, sent })
    }
}

/// What [`pin`] found: a process to signal, or the whole answer.
enum Pinned {
    Target(u32, PidFd),
    Done(Outcome),
}

/// Read the file, check that it can be trusted, open a pidfd on the PID it names and confirm,
/// with the process pinned, that the file still names it.
fn pin(path: &Path, opts: &Options) -> Result<Pinned, Error> {
    let found = pidfile::inspect(path);
    let pid = match found.status {
        Status::Running { pid, .. } => pid,
        Status::Absent => return Ok(Pinned::Done(Outcome::NotRunning(Status::Absent))),
        stale @ (Status::Stale { .. } | Status::Vacant(_)) => {
            if opts.remove_pidfile && !opts.dry_run {
                remove_if_unlocked(path)?;
            }
            return Ok(Pinned::Done(Outcome::NotRunning(stale)));
        }
        status => return Err(cannot_tell(path, status)),
    };
    refuse_special(path, pid)?;
    if let Some(meta) = &found.meta {
        trust::check(path, meta, pid)?;
    }
    let pidfd = match PidFd::open(pid) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return after_exit(path, pid),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                step: Stage::OpenPidfd,
                source,
            });
        }
    };
    // Identity: with the process pinned by the pidfd, the file must still name it and still
    // be judged running (locked, or a foreign file older than the process is not).
    match pidfile::inspect(path).status {
        Status::Running { pid: again, .. } if again == pid => {}
        status => return settled(path, status).map(Pinned::Done),
    }
    let exited = exited(&pidfd).map_err(|source| Error::Io {
        path: path.to_owned(),
        step: Stage::Wait,
        source,
    })?;
    if exited {
        return after_exit(path, pid);
    }
    Ok(Pinned::Target(pid, pidfd))
}

/// The process `pid` has exited before anything was sent: read the file once more.
fn after_exit(path: &Path, pid: u32) -> Result<Pinned, Error> {
    match pidfile::status(path) {
        // The writer is gone but its lock lives on in a process that inherited the
        // descriptor: there is a service, and no PID to reach it by.
        Status::Running {
            pid: again,
            locked: true,
        } if again == pid => Err(Error::OrphanedLock {
            path: path.to_owned(),
            pid,
        }),
        status => settled(path, status).map(Pinned::Done),
    }
}

/// A second reading of the file: absent or stale is "not running"; anything else (unreadable,
/// invalid, starting, or naming another process now) leaves the answer unknown.
fn settled(path: &Path, status: Status) -> Result<Outcome, Error> {
    match status {
        Status::Absent | Status::Stale { .. } | Status::Vacant(_) => {
            Ok(Outcome::NotRunning(status))
        }
        status => Err(cannot_tell(path, status)),
    }
}

fn cannot_tell(path: &Path, status: Status) -> Error {
    Error::CannotTell {
        path: path.to_owned(),
        status,
    }
}

/// Waits up to `limit` for the process to exit (`poll(2)` on the pidfd, tried again when it
/// fails); when `poll(2)` keeps failing, the wait is a sleep of the time left, then one more
/// look. `Err` only when the process cannot be looked at at all.
fn wait(pidfd: &PidFd, limit: std::time::Duration) -> std::io::Result<bool> {
    let end = std::time::Instant::now() + limit;
    let left = || end.saturating_duration_since(std::time::Instant::now());
    match retry(|| pidfd.wait_timeout(left())) {
        Ok(exited) => Ok(exited),
        Err(_) => {
            std::thread::sleep(left());
            exited(pidfd)
        }
    }
}

/// [`send`], tried again when it fails ([`retry_except`]); `ESRCH` is the answer "it has
/// exited" only when the pidfd confirms it (a stop that says "stopped" must be right), and a
/// passing failure to try again otherwise. `EPERM` is an answer.
fn send_confirmed(pidfd: &PidFd, signal: Signal) -> std::io::Result<()> {
    retry_except(&[libc::EPERM], || match send(pidfd, signal) {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) && exited(pidfd).ok() != Some(false) => {
            Ok(Err(e))
        }
        other => other.map(Ok),
    })
    .map_err(|e| match e.raw_os_error() {
        // At every try, though the pidfd said it lives: not an exit.
        Some(libc::ESRCH) => std::io::Error::other(format!("{e}, yet the process lives")),
        _ => e,
    })?
}

/// Whether the process has exited: `poll(2)` on the pidfd, tried again when it fails, then
/// the null signal ([`PidFd::has_exited_by_signal`], also tried again) when `poll(2)` keeps
/// failing. `Err` only when neither can tell.
fn exited(pidfd: &PidFd) -> std::io::Result<bool> {
    retry(|| pidfd.has_exited()).or_else(|_| retry(|| pidfd.has_exited_by_signal()))
}

/// Send `signal`, then `SIGCONT` if the signal can be caught, so a stopped process acts on it.
fn send(pidfd: &PidFd, signal: Signal) -> std::io::Result<()> {
    pidfd.send_signal(signal)?;
    if signal.is_catchable() && signal != Signal::CONT {
        match pidfd.send_signal(Signal::CONT) {
            Err(e) if e.raw_os_error() != Some(libc::ESRCH) => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Whatever the file says, PID 1, this process and its parent are never signalled (systemd
/// refuses a `PIDFile=` naming PID 1 or itself).
fn refuse_special(path: &Path, pid: u32) -> Result<(), Error> {
    let why = if pid == 1 {
        Untrusted::NamesInit
    } else if pid == std::process::id() {
        Untrusted::NamesSelf
    } else if pid == std::os::unix::process::parent_id() {
        Untrusted::NamesParent
    } else {
        return Ok(());
    };
    Err(Error::Untrusted {
        path: path.to_owned(),
        why,
    })
}

/// Remove a PID file that nobody holds: take its lock first, so a process starting right now
/// cannot lose its fresh file, then unlink it (only if it is still the inode we locked).
fn remove_if_unlocked(path: &Path) -> Result<(), Error> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => {}
        _ => return Ok(()),
    }
    let removed = match pidfile::PidFile::options().defer_write(true).acquire(path) {
        Ok(guard) => guard.release(),
        // Someone holds it now: it is theirs.
        Err(pidfile::Error::AlreadyRunning { .. }) => Ok(()),
        Err(e) => Err(e),
    };
    removed.map_err(|source| Error::Remove {
        path: path.to_owned(),
        source,
    })
}
