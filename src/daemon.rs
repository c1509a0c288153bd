//! Starting a service: detach by double fork, set up, and tell the launcher the truth.
//!
//! [`Daemon`] is for programs that put themselves in the background (twistd's
//! `UnixApplicationRunner`, start-stop-daemon's `--background`). It is called from a
//! single-threaded `main`, before any async runtime or logging thread exists, and does, in
//! order:
//!
//! 1. **In the launcher** (the invoking process): everything that can fail early. The PID file
//!    was already acquired by the caller ([`PidFile`], typically with
//!    [`defer_write`](crate::pidfile::Options::defer_write) so it stays empty until the final
//!    PID is known); users and groups are resolved; output files are opened with the
//!    launcher's privileges; a `O_CLOEXEC` status pipe is created.
//! 2. **fork** → the middle process calls `setsid(2)` (a new session, no controlling
//!    terminal) and **forks** again, then exits: the final process is not a session leader,
//!    so it can never acquire a controlling terminal by opening one.
//! 3. **In the final process**: the [`Setup`] steps (standard streams, closing inherited
//!    descriptors, resource limits, umask, `chroot`, `chdir`, privilege drop; see
//!    [`Setup`] and [`crate::child`]), then its PID goes into the PID file (whose lock it inherited), then
//!    it reports on the status pipe.
//! 4. **The launcher** reads the status pipe. It exits with status 0 only when the final
//!    process reported success (or readiness, with [`Daemon::report_ready`]). A failure
//!    report (step and `errno`) makes [`Daemon::start`] return an error in the launcher; so
//!    does a pipe that reaches end of file without a report, which is how a final process
//!    that died (even by `SIGKILL`) shows itself: the launcher never hangs. To tell how such a
//!    process died, the launcher makes itself a child subreaper for the duration of the
//!    start, so the final process is its child until the launcher exits.
//! 5. **A report that goes astray.** The launcher and the final process share the PID file's
//!    lock, so after a start that did not report success the launcher removes the file only
//!    if nobody holds its lock once its own descriptor is closed (`daemon/launcher.rs`): a
//!    live process's file is never removed. If the final process still holds it, the
//!    launcher cannot tell how the start went and says so ([`Error::Unknown`]). Conversely a
//!    final process that cannot write its report (the launcher is gone) does not go on:
//!    [`Daemon::start`] exits (status 1, PID file removed) rather than run unannounced.
//!
//! Without detaching ([`Daemon::detach`]`(false)`, twistd's `--nodaemon`) the same set-up is
//! applied to the calling process itself, and errors are returned directly.
//!
//! When detaching with no explicit choice, the umask becomes `077` (as twistd's), the working
//! directory `/`, the standard streams `/dev/null`, and inherited descriptors other than the
//! standard streams, the PID file and the ones given to [`Setup::keep_fd`] are closed.
//!
//! # Removing the PID file
//!
//! The final process owns the PID file through [`Started`]; dropping it (or
//! [`Started::release`]) removes the file if the path still names the file it locked. After
//! a privilege drop or a `chroot` that removal may be impossible; that is logged
//! (`tracing::warn!`), not fatal, because staleness is decided by the lock, which dies with
//! the process anyway.
//!
//! # Example
//!
//! ```no_run
//! use pidward::child::{Setup, Stdio};
//! use pidward::daemon::Daemon;
//! use pidward::pidfile::PidFile;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Single-threaded here: no runtime, no threads yet.
//!     let pid_file = PidFile::options().defer_write(true).acquire("/run/mysvc.pid")?;
//!     let setup = Setup::new()
//!         .user("nobody")
//!         .working_directory("/")
//!         .stderr(Stdio::append("/var/log/mysvc.log"));
//!     let mut daemon = Daemon::new(setup)
//!         .pid_file(pid_file)
//!         .report_ready(true)
//!         .start()?; // the launcher exits 0 inside this call once we report
//!     // Here we are the detached process: start the runtime, bind sockets...
//!     daemon.ready()?; // now the launcher exits 0
//!     // ... serve ...
//!     Ok(()) // dropping `daemon` removes the PID file
//! }
//! ```

use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use crate::pidfile::PidFile;

mod launcher;
mod reap;
pub(crate) mod report;
mod started;
pub(crate) mod status;

pub use started::Started;

use crate::child::{self, Mode, Plan, Setup, Stdio, Step};
use reap::Subreaper;
use status::StatusWriter;

/// Why a start failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A step failed: in this process (before the fork, or when not detaching), or in the
    /// detached process, which reported it over the status pipe.
    #[error(transparent)]
    Step(#[from] child::Error),
    /// Detaching (or switching credentials without detaching) needs a single-threaded
    /// process, and this one is not.
    #[error(
        "cannot detach a process with {0} threads: start the daemon before any thread or runtime"
    )]
    Threaded(usize),
    /// The detached process ended (or closed the status pipe) without reporting.
    #[error("the detached process{} {} before it reported", pid_text(*.pid), died_text(.status))]
    Died {
        /// Its PID, if it announced one.
        pid: Option<u32>,
        /// How it ended, when the launcher could reap it.
        status: Option<ExitStatus>,
    },
    /// The launcher cannot tell how the start went, and the detached process still holds the
    /// PID file (or, without one, was not seen to end): it **may be running**. Either the
    /// launcher's `read(2)` of the status pipe failed (`source`), or the detached process
    /// closed its end without a report (`source` is `None`; a report it could not write). The
    /// PID file is left in place: its lock says whether the service runs
    /// ([`pidfile::status`](crate::pidfile::status)), and `pidward stop` stops it.
    #[error("{}; the detached process{} {}", unknown_text(.source), pid_text(*.pid), holder_text(.pid_file))]
    Unknown {
        /// Its PID: announced on the pipe, or read from the PID file.
        pid: Option<u32>,
        /// The PID file it holds, if there is one.
        pid_file: Option<std::path::PathBuf>,
        /// The launcher's read error, if reading failed.
        #[source]
        source: Option<io::Error>,
    },
    /// The launcher's `read(2)` of the status pipe failed, and the detached process was then
    /// seen to end without holding the PID file any more: the start did not happen.
    #[error("cannot read the start-up report from the status pipe: read: {source}; the detached process{} is not running", pid_text(*.pid))]
    Report {
        /// Its PID, if it announced one.
        pid: Option<u32>,
        /// The read error.
        #[source]
        source: io::Error,
    },
    /// No report came before the deadline set with [`Daemon::report_timeout`]. The detached
    /// process may still be running, and still holds the PID file.
    #[error("the detached process{} did not report within {}", pid_text(*.pid), crate::time::Human(*.timeout))]
    Timeout {
        /// Its PID, if it announced one.
        pid: Option<u32>,
        /// The deadline.
        timeout: Duration,
    },
}

fn pid_text(pid: Option<u32>) -> String {
    pid.map(|p| format!(" (PID {p})")).unwrap_or_default()
}

fn unknown_text(source: &Option<io::Error>) -> String {
    match source {
        Some(e) => format!("cannot read the start-up report from the status pipe: read: {e}"),
        None => "the detached process closed its status pipe without reporting".to_owned(),
    }
}

fn holder_text(pid_file: &Option<std::path::PathBuf>) -> String {
    match pid_file {
        Some(p) => format!("still holds {} and may be running", p.display()),
        None => "may be running".to_owned(),
    }
}

fn died_text(status: &Option<ExitStatus>) -> String {
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (_, Some(sig)) => match crate::Signal::from_raw(sig) {
                Some(sig) => format!("was killed by signal {sig}"),
                None => format!("was killed by signal {sig}"),
            },
            _ => format!("ended ({s})"),
        },
        None => "ended or closed its status pipe".to_owned(),
    }
}

/// A builder for starting the calling program as a service; see the [module
/// documentation](self).
#[derive(Debug)]
pub struct Daemon {
    setup: Setup,
    detach: bool,
    pid_file: Option<PidFile>,
    /// The PID file's path, for messages once the launcher has let go of the file.
    pid_file_path: Option<std::path::PathBuf>,
    report_ready: bool,
    report_timeout: Option<Duration>,
}

impl Daemon {
    /// A daemon that detaches and applies `setup` to the detached process, with the
    /// defaults of the [module documentation](self) for what `setup` leaves unsaid.
    pub fn new(setup: Setup) -> Daemon {
        Daemon {
            setup,
            detach: true,
            pid_file: None,
            pid_file_path: None,
            report_ready: false,
            report_timeout: None,
        }
    }

    /// Whether to detach (default `true`). Without detaching, the set-up applies to the
    /// calling process, which keeps its PID, session and (unless told otherwise) its streams.
    pub fn detach(mut self, detach: bool) -> Daemon {
        self.detach = detach;
        self
    }

    /// The PID file: locked by the caller (with `defer_write`, typically), written with the
    /// final PID before the launcher returns, kept locked by the final process, and removed
    /// when the [`Started`] handle is dropped. Acquire it by an absolute path: the detached
    /// process works from another directory.
    pub fn pid_file(mut self, pid_file: PidFile) -> Daemon {
        self.pid_file_path = Some(pid_file.path().to_owned());
        self.pid_file = Some(pid_file);
        self
    }

    /// Make the launcher wait until the service calls [`Started::ready`] instead of
    /// returning as soon as the set-up is done. Default: `false`.
    pub fn report_ready(mut self, yes: bool) -> Daemon {
        self.report_ready = yes;
        self
    }

    /// How long the launcher waits for the report before giving up with
    /// [`Error::Timeout`]. Default: no limit (a process that dies is still noticed at once).
    pub fn report_timeout(mut self, timeout: Duration) -> Daemon {
        self.report_timeout = Some(timeout);
        self
    }

    /// Starts: detaches and sets up (or only sets up, without detaching).
    ///
    /// When detaching, **this returns in the detached process only**: the launcher waits
    /// for the report and exits with status 0 on success (after closing, not removing, its
    /// handle on the PID file), or gets `Err` describing the failure (the PID file is then
    /// removed). Without detaching, it returns in the calling process.
    pub fn start(mut self) -> Result<Started, Error> {
        if self.detach {
            if !self.setup.has_stdio(0) {
                self.setup = self.setup.stdin(Stdio::null());
            }
            if !self.setup.has_stdio(1) {
                self.setup = self.setup.stdout(Stdio::null());
            }
            if !self.setup.has_stdio(2) {
                self.setup = self.setup.stderr(Stdio::null());
            }
            if !self.setup.has_umask() {
                self.setup = self.setup.umask(0o077);
            }
            if !self.setup.has_working_directory() {
                self.setup = self.setup.working_directory("/");
            }
            if !self.setup.has_close_fds() {
                self.setup = self.setup.close_fds(true);
            }
        }
        let setup = std::mem::take(&mut self.setup);
        let mut plan = setup.prepare()?;
        if let Some(pf) = &self.pid_file {
            plan.keep(pf.as_fd().as_raw_fd());
        }
        if self.detach {
            self.start_detached(plan)
        } else {
            self.start_here(plan)
        }
    }

    /// The `nodaemon` case: apply the set-up to this process.
    fn start_here(mut self, plan: Plan) -> Result<Started, Error> {
        // The set-up switches ids with raw system calls, which change the calling thread
        // only: other threads would keep the old credentials.
        if plan.credentials().is_some_and(|c| !c.is_noop()) {
            let threads = thread_count();
            if threads > 1 {
                return Err(Error::Threaded(threads));
            }
        }
        plan.apply(Mode::InPlace).map_err(|f| plan.error(&f))?;
        plan.finish();
        let mut detached = Started {
            status: None,
            pid_file: self.pid_file.take(),
        };
        detached.write_pid()?;
        Ok(detached)
    }

    fn start_detached(mut self, mut plan: Plan) -> Result<Started, Error> {
        let threads = thread_count();
        if threads > 1 {
            return Err(Error::Threaded(threads));
        }
        // Buffered output would otherwise be written twice, once by each process.
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();

        let (read, write) = status_pipe(&plan)?;
        plan.keep(write.as_raw_fd());
        let subreaper = Subreaper::enable();

        // SAFETY: this process is single-threaded (checked above), so the child is a full
        // copy in a consistent state (no lock held by another thread, no allocator midway).
        // Until the set-up is applied it only makes system calls on prepared values anyway;
        // after that it is the service itself, as free as the single-threaded launcher was.
        match unsafe { nix::unistd::fork() } {
            Err(e) => Err(child::Error::new(Step::Fork, e as i32, "").into()),
            Ok(nix::unistd::ForkResult::Child) => {
                drop(read);
                // The flag is not inherited by a child: nothing to restore here.
                std::mem::forget(subreaper);
                let writer = StatusWriter::new(write.as_fd());
                self.middle(&writer);
                // Here only in the final process. A report that cannot be written means
                // the launcher cannot be told (it is gone): a start nobody can be told of
                // does not go on.
                if writer.pid(std::process::id()).is_err() {
                    // SAFETY: leave without running destructors or atexit handlers that
                    // belong to the launcher. The PID file's lock dies with us.
                    unsafe { libc::_exit(1) };
                }
                if let Err(failure) = plan.apply(Mode::InPlace) {
                    // Nothing useful can be done if the launcher is gone.
                    let _ = writer.failed(failure.step, failure.errno, plan.detail(&failure));
                    // SAFETY: leave without running destructors or atexit handlers that
                    // belong to the launcher.
                    unsafe { libc::_exit(1) };
                }
                plan.finish();
                let mut detached = Started {
                    status: Some(write),
                    pid_file: self.pid_file.take(),
                };
                if let Err(e) = detached.write_pid() {
                    let _ = writer.failed(e.step(), e.code(), e.detail().as_bytes());
                    // SAFETY: as above.
                    unsafe { libc::_exit(1) };
                }
                if !self.report_ready && detached.started().is_err() {
                    // As above: the launcher cannot learn that we started, so we do not.
                    // The PID file is ours (we hold its lock): remove it.
                    drop(detached);
                    // SAFETY: as above.
                    unsafe { libc::_exit(1) };
                }
                Ok(detached)
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                drop(write);
                drop(plan);
                let result = self.launcher(child.as_raw(), read);
                drop(subreaper);
                result
            }
        }
    }

    /// In the middle process: new session, fork again, and let the first child exit.
    fn middle(&self, writer: &StatusWriter) {
        if let Err(e) = nix::unistd::setsid() {
            let _ = writer.failed(Step::Setsid, e as i32, b"");
            // SAFETY: leave without running the launcher's destructors.
            unsafe { libc::_exit(1) };
        }
        // SAFETY: single-threaded (we are a fresh fork of a single-threaded process).
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => {}
            Ok(nix::unistd::ForkResult::Parent { .. }) => {
                // SAFETY: as above.
                unsafe { libc::_exit(0) }
            }
            Err(e) => {
                let _ = writer.failed(Step::Fork, e as i32, b"");
                // SAFETY: as above.
                unsafe { libc::_exit(1) }
            }
        }
    }
}

/// The status pipe, both ends `O_CLOEXEC`, the write end above any descriptor number the
/// set-up installs.
fn status_pipe(plan: &Plan) -> Result<(OwnedFd, OwnedFd), child::Error> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| child::Error::from_io(Step::Fork, &e.into(), "status pipe"))?;
    let floor = plan.fd_floor();
    let write = if write.as_raw_fd() < floor {
        rustix::io::fcntl_dupfd_cloexec(&write, floor)
            .map_err(|e| child::Error::from_io(Step::Fork, &e.into(), "status pipe"))?
    } else {
        write
    };
    Ok((read, write))
}

/// Number of threads of this process (`/proc/self/task`); 1 if it cannot be read.
fn thread_count() -> usize {
    crate::sys::entry_names(std::path::Path::new("/proc/self/task"))
        .map(|d| d.len())
        .unwrap_or(1)
}
