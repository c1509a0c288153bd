//! Stopping the program a PID file names: signal schedules over a pidfd.
//!
//! [`Schedule`] follows start-stop-daemon's `--retry` syntax: `30` means `TERM/30/KILL/5`
//! (the signal given replaces `TERM`); otherwise a `/`-separated list of signals (`TERM`,
//! `-9`, `-USR1`), waits in seconds (`30`, `0.5`) and at most one `forever`, after which the
//! rest of the schedule repeats until the process is gone (at the end, the last signal and
//! wait repeat).
//!
//! [`stop`] never signals a bare PID. It reads the file ([`crate::pidfile::status`]), refuses
//! files that anyone could have written (world-writable, or owned by another non-root user),
//! opens a pidfd, confirms that the file still names that process (still locked, or for a
//! foreign file, a process older than the file), and only then sends through the pidfd. After
//! each catchable signal it sends `SIGCONT`, so a stopped process can act on it. Waits poll
//! the pidfd: `stop` returns the moment the process is gone, and a zombie is gone.

use std::fmt;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::Signal;
use crate::pidfd::PidFd;
use crate::pidfile::{self, Status};

/// One step of a [`Schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send this signal.
    Signal(Signal),
    /// Wait this long for the process to exit.
    Wait(Duration),
    /// Repeat what follows until the process is gone.
    Forever,
}

/// A stop schedule such as `TERM/30/KILL/5`.
///
/// ```
/// use pidward::stop::{Schedule, Step};
/// use pidward::Signal;
/// use std::time::Duration;
///
/// let s = Schedule::parse("30", Signal::TERM)?;
/// assert_eq!(s.to_string(), "TERM/30/KILL/5");
/// let s = Schedule::parse("HUP/0.5/-9/2/forever", Signal::TERM)?;
/// assert_eq!(s.steps()[1], Step::Wait(Duration::from_millis(500)));
/// assert_eq!(s.steps()[2], Step::Signal(Signal::KILL));
/// assert!(Schedule::parse("TERM/abc", Signal::TERM).is_err());
/// # Ok::<(), pidward::stop::ScheduleError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule(Vec<Step>);

/// A schedule that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid stop schedule {text:?}: {why}")]
pub struct ScheduleError {
    /// The schedule as given.
    pub text: String,
    /// What is wrong.
    pub why: String,
}

impl Schedule {
    /// Parse start-stop-daemon `--retry` syntax; `signal` is the one a bare timeout sends first.
    pub fn parse(text: &str, signal: Signal) -> Result<Schedule, ScheduleError> {
        let err = |why: String| ScheduleError {
            text: text.to_owned(),
            why,
        };
        if let Some(d) = parse_secs(text) {
            return Ok(Schedule(vec![
                Step::Signal(signal),
                Step::Wait(d),
                Step::Signal(Signal::KILL),
                Step::Wait(Duration::from_secs(5)),
            ]));
        }
        let mut steps = Vec::new();
        for item in text.split('/') {
            let step = if item == "forever" {
                if steps.contains(&Step::Forever) {
                    return Err(err("'forever' appears more than once".into()));
                }
                Step::Forever
            } else if let Some(d) = parse_secs(item) {
                Step::Wait(d)
            } else {
                let name = item.strip_prefix('-').unwrap_or(item);
                Step::Signal(name.parse().map_err(|e: crate::signal::UnknownSignal| {
                    err(format!(
                        "{item:?} is neither a wait in seconds nor a signal ({e})"
                    ))
                })?)
            };
            steps.push(step);
        }
        if !steps.iter().any(|s| matches!(s, Step::Signal(_))) {
            return Err(err("it sends no signal".into()));
        }
        if steps.last() == Some(&Step::Forever) && !steps.iter().any(|s| matches!(s, Step::Wait(_)))
        {
            return Err(err("'forever' with no wait would spin".into()));
        }
        Ok(Schedule(steps))
    }

    /// Send `signal` once and do not wait.
    pub fn once(signal: Signal) -> Schedule {
        Schedule(vec![Step::Signal(signal)])
    }

    /// The steps.
    pub fn steps(&self) -> &[Step] {
        &self.0
    }

    /// Whether the schedule waits at all (if not, success means "signal delivered").
    pub fn waits(&self) -> bool {
        self.0.iter().any(|s| matches!(s, Step::Wait(_)))
    }

    /// The steps in the order they run, `forever` unrolled lazily.
    pub fn run_order(&self) -> impl Iterator<Item = Step> + '_ {
        let steps = &self.0;
        let (head, repeat): (&[Step], &[Step]) =
            match steps.iter().position(|s| *s == Step::Forever) {
                None => (steps, &[]),
                Some(i) if i + 1 == steps.len() => {
                    // Trailing `forever`: repeat the last signal and the waits after it.
                    let last_sig = steps[..i]
                        .iter()
                        .rposition(|s| matches!(s, Step::Signal(_)))
                        .unwrap_or(0);
                    (&steps[..i], &steps[last_sig..i])
                }
                Some(i) => (&steps[..i], &steps[i + 1..]),
            };
        head.iter().copied().chain(
            std::iter::repeat(repeat)
                .take_while(|r| !r.is_empty())
                .flatten()
                .copied(),
        )
    }
}

impl Default for Schedule {
    /// `TERM/30/KILL/5`.
    fn default() -> Schedule {
        Schedule::parse("30", Signal::TERM).expect("the default schedule parses")
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    /// Parse with `TERM` as the signal of a bare timeout.
    fn from_str(s: &str) -> Result<Schedule, ScheduleError> {
        Schedule::parse(s, Signal::TERM)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            match step {
                Step::Signal(s) => write!(f, "{s}")?,
                Step::Wait(d) => write!(f, "{}", d.as_secs_f64())?,
                Step::Forever => f.write_str("forever")?,
            }
        }
        Ok(())
    }
}

/// A wait of the schedule: anything else is a signal (`-5` included, as `kill -5`).
fn parse_secs(text: &str) -> Option<Duration> {
    crate::time::parse_seconds(text).ok()
}

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

/// Why [`stop`] could not act.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// The PID file cannot be read or holds no PID.
    #[error("{}: cannot tell what is running: {status}", path.display())]
    CannotTell {
        /// The PID file.
        path: PathBuf,
        /// What [`pidfile::status`] found.
        status: Status,
    },
    /// The PID file could have been written by anyone, so its PID is not trusted.
    #[error("{}: refusing to signal: {why}", path.display())]
    Untrusted {
        /// The PID file.
        path: PathBuf,
        /// Why it is not trusted.
        why: String,
    },
    /// The file names a PID that has exited, yet its lock is still held: a process that
    /// inherited the descriptor (a forked child) keeps the service "running", and the file does
    /// not say which process that is. Nothing is signalled.
    #[error(
        "{}: PID {pid} has exited but the file is still locked by a process that inherited it; \
         not signalling anything",
        path.display()
    )]
    OrphanedLock {
        /// The PID file.
        path: PathBuf,
        /// The PID it names.
        pid: u32,
    },
    /// Sending the signal failed (EPERM: not permitted).
    #[error("cannot send {signal} to PID {pid}: {source}")]
    Signal {
        /// The target.
        pid: u32,
        /// The signal.
        signal: Signal,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Another I/O failure (pidfd, poll, removing the file).
    #[error("{}: {source}", path.display())]
    Io {
        /// The PID file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Options for [`stop`].
#[derive(Debug, Clone, Default)]
pub struct StopOptions {
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
/// use pidward::stop::{stop, Outcome, StopOptions};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("sleeper.pid");
/// let child = std::process::Command::new("sleep").arg("30").spawn()?;
/// std::fs::write(&path, format!("{}\n", child.id()))?;
/// let outcome = stop(&path, &StopOptions::default())?;
/// assert!(matches!(outcome, Outcome::Stopped { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn stop(path: impl AsRef<Path>, opts: &StopOptions) -> Result<Outcome, StopError> {
    let path = path.as_ref();
    let found = pidfile::inspect(path);
    let pid = match found.status {
        Status::Running { pid, .. } => pid,
        Status::Absent => return Ok(Outcome::NotRunning(Status::Absent)),
        stale @ Status::Stale { .. } => {
            if opts.remove_pidfile && !opts.dry_run {
                remove_if_unlocked(path)?;
            }
            return Ok(Outcome::NotRunning(stale));
        }
        status => {
            return Err(StopError::CannotTell {
                path: path.to_owned(),
                status,
            });
        }
    };
    if let Some(meta) = &found.meta {
        trust(path, meta)?;
    }
    let io_err = |source| StopError::Io {
        path: path.to_owned(),
        source,
    };
    let pidfd = match PidFd::open(pid) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
            return match pidfile::status(path) {
                // The writer is gone but its lock lives on in a process that inherited the
                // descriptor: there is a service, and no PID to reach it by.
                Status::Running {
                    pid: again,
                    locked: true,
                } if again == pid => Err(StopError::OrphanedLock {
                    path: path.to_owned(),
                    pid,
                }),
                other => Ok(Outcome::NotRunning(other)),
            };
        }
        Err(e) => return Err(io_err(e)),
    };
    // Identity: with the process pinned by the pidfd, the file must still name it and still
    // be judged running (locked, or a foreign file older than the process is not).
    match pidfile::inspect(path).status {
        Status::Running { pid: again, .. } if again == pid => {}
        other => return Ok(Outcome::NotRunning(other)),
    }
    if pidfd.has_exited().map_err(io_err)? {
        return Ok(Outcome::NotRunning(pidfile::status(path)));
    }
    if opts.dry_run {
        return Ok(Outcome::WouldSend {
            pid,
            schedule: opts.schedule.clone(),
        });
    }
    let mut sent = Vec::new();
    let mut gone = false;
    for step in opts.schedule.run_order() {
        match step {
            Step::Signal(signal) => match send(&pidfd, signal) {
                Ok(()) => sent.push(signal),
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                    gone = true;
                    break;
                }
                Err(source) => {
                    return Err(StopError::Signal {
                        pid,
                        signal,
                        source,
                    });
                }
            },
            Step::Wait(d) => {
                if pidfd.wait_timeout(d).map_err(io_err)? {
                    gone = true;
                    break;
                }
            }
            Step::Forever => {}
        }
    }
    if !gone && opts.schedule.waits() {
        gone = pidfd.has_exited().map_err(io_err)?;
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

/// Send `signal`, then `SIGCONT` if the signal can be caught, so a stopped process acts on it.
fn send(pidfd: &PidFd, signal: Signal) -> io::Result<()> {
    pidfd.send_signal(signal)?;
    if signal.is_catchable() && signal != Signal::CONT {
        match pidfd.send_signal(Signal::CONT) {
            Err(e) if e.raw_os_error() != Some(libc::ESRCH) => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// A PID file's PID is believed only if nobody but its owner, root or us could have put it
/// there.
fn trust(path: &Path, meta: &std::fs::Metadata) -> Result<(), StopError> {
    let untrusted = |why: String| StopError::Untrusted {
        path: path.to_owned(),
        why,
    };
    if meta.permissions().mode() & 0o002 != 0 {
        return Err(untrusted("the file is world-writable".into()));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != me {
        return Err(untrusted(format!(
            "the file is owned by another user (uid {})",
            meta.uid()
        )));
    }
    Ok(())
}

/// Remove a PID file that nobody holds: take its lock first, so a process starting right now
/// cannot lose its fresh file, then unlink it (only if it is still the inode we locked).
fn remove_if_unlocked(path: &Path) -> Result<(), StopError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => {}
        _ => return Ok(()),
    }
    match pidfile::PidFile::options().defer_write(true).acquire(path) {
        Ok(guard) => guard.release().map_err(|source| StopError::Io {
            path: path.to_owned(),
            source,
        }),
        // Someone holds it now: it is theirs.
        Err(pidfile::Error::AlreadyRunning { .. }) => Ok(()),
        Err(e) => Err(StopError::Io {
            path: path.to_owned(),
            source: io::Error::other(e.to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let s = Schedule::parse("5", Signal::HUP).unwrap();
        assert_eq!(s.to_string(), "HUP/5/KILL/5");
        let s = Schedule::parse("TERM/1/KILL/2", Signal::TERM).unwrap();
        let order: Vec<Step> = s.run_order().collect();
        assert_eq!(order.len(), 4);
        let s = Schedule::parse("TERM/1/forever", Signal::TERM).unwrap();
        let order: Vec<Step> = s.run_order().take(6).collect();
        assert_eq!(
            order,
            [
                Step::Signal(Signal::TERM),
                Step::Wait(Duration::from_secs(1)),
                Step::Signal(Signal::TERM),
                Step::Wait(Duration::from_secs(1)),
                Step::Signal(Signal::TERM),
                Step::Wait(Duration::from_secs(1)),
            ]
        );
        let s = Schedule::parse("TERM/1/forever/KILL/2", Signal::TERM).unwrap();
        let order: Vec<Step> = s.run_order().take(5).collect();
        assert_eq!(order[2], Step::Signal(Signal::KILL));
        assert_eq!(order[4], Step::Signal(Signal::KILL));
        for bad in [
            "",
            "TERM//5",
            "5/forever/forever",
            "1/2",
            "TERM/x",
            "forever",
            "-1.5.5",
            "TERM/forever",
        ] {
            assert!(Schedule::parse(bad, Signal::TERM).is_err(), "{bad}");
        }
    }
}
