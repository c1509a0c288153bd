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
//! 3. **In the final process**: the [`Setup`] steps (resource limits, `chroot`, `chdir`,
//!    umask, standard streams, closing inherited descriptors, privilege drop; see
//!    [`setup`](Setup)), then its PID goes into the PID file (whose lock it inherited), then
//!    it reports on the status pipe.
//! 4. **The launcher** reads the status pipe. It exits with status 0 only when the final
//!    process reported success (or readiness, with [`Daemon::report_ready`]). A failure
//!    report (step and `errno`) makes [`Daemon::start`] return an error in the launcher; so
//!    does a pipe that reaches end of file without a report, which is how a final process
//!    that died (even by `SIGKILL`) shows itself: the launcher never hangs. To tell how such a
//!    process died, the launcher makes itself a child subreaper for the duration of the
//!    start, so the final process is its child until the launcher exits.
//!
//! Without detaching ([`Daemon::detach`]`(false)`, twistd's `--nodaemon`) the same set-up is
//! applied to the calling process itself, and errors are returned directly.
//!
//! When detaching with no explicit choice, the umask becomes `077` (as twistd's), the working
//! directory `/`, the standard streams `/dev/null`, and inherited descriptors other than the
//! standard streams, the PID file and the ones given to [`Daemon::keep_fd`] are closed.
//!
//! # Removing the PID file
//!
//! The final process owns the PID file through [`Detached`]; dropping it (or
//! [`Detached::release`]) removes the file if the path still names the file it locked. After
//! a privilege drop or a `chroot` that removal may be impossible; that is logged
//! (`tracing::warn!`), not fatal, because staleness is decided by the lock, which dies with
//! the process anyway.
//!
//! # Example
//!
//! ```no_run
//! use pidward::daemon::{Daemon, Stdio};
//! use pidward::pidfile::PidFile;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Single-threaded here: no runtime, no threads yet.
//!     let pid_file = PidFile::options().defer_write(true).acquire("/run/mysvc.pid")?;
//!     let mut daemon = Daemon::new()
//!         .pid_file(pid_file)
//!         .user("nobody")
//!         .working_directory("/")
//!         .stderr(Stdio::append("/var/log/mysvc.log"))
//!         .report_ready(true)
//!         .start()?; // the launcher exits 0 inside this call once we report
//!     // Here we are the detached process: start the runtime, bind sockets...
//!     daemon.ready()?; // now the launcher exits 0
//!     // ... serve ...
//!     Ok(()) // dropping `daemon` removes the PID file
//! }
//! ```

use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::pidfile::PidFile;
use crate::privileges::Credentials;

mod rlimit;
mod setup;
mod status;

pub use rlimit::{Resource, Rlimit, RlimitParseError};
pub use setup::{Prepared, Setup, SpawnCheck, Stdio, open_append};
pub use status::{MESSAGE_MAX, Step, StepError};

use setup::CloseMode;
use status::{Outcome, StatusWriter};

/// Why a start failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A step failed: in this process (before the fork, or when not detaching), or in the
    /// detached process, which reported it over the status pipe.
    #[error(transparent)]
    Step(#[from] StepError),
    /// Detaching needs a single-threaded process, and this one is not.
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
    report_ready: bool,
    report_timeout: Option<Duration>,
    keep: Vec<RawFd>,
}

impl Default for Daemon {
    fn default() -> Daemon {
        Daemon::new()
    }
}

impl Daemon {
    /// A daemon that detaches, with the defaults of the [module documentation](self).
    pub fn new() -> Daemon {
        Daemon {
            setup: Setup::new(),
            detach: true,
            pid_file: None,
            report_ready: false,
            report_timeout: None,
            keep: Vec::new(),
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
    /// when the [`Detached`] handle is dropped. Acquire it by an absolute path: the detached
    /// process works from another directory.
    pub fn pid_file(mut self, pid_file: PidFile) -> Daemon {
        self.pid_file = Some(pid_file);
        self
    }

    /// Replace the whole set-up at once.
    pub fn setup(mut self, setup: Setup) -> Daemon {
        self.setup = setup;
        self
    }

    /// See [`Setup::chroot`].
    pub fn chroot(mut self, dir: impl Into<PathBuf>) -> Daemon {
        self.setup = self.setup.chroot(dir);
        self
    }

    /// See [`Setup::working_directory`]. Default when detaching: `/`.
    pub fn working_directory(mut self, dir: impl Into<PathBuf>) -> Daemon {
        self.setup = self.setup.working_directory(dir);
        self
    }

    /// See [`Setup::umask`]. Default when detaching: `0o077`.
    pub fn umask(mut self, mask: u32) -> Daemon {
        self.setup = self.setup.umask(mask);
        self
    }

    /// See [`Setup::stdin`]. Default when detaching: `/dev/null`.
    pub fn stdin(mut self, stdio: Stdio) -> Daemon {
        self.setup = self.setup.stdin(stdio);
        self
    }

    /// See [`Setup::stdout`]. Default when detaching: `/dev/null`.
    pub fn stdout(mut self, stdio: Stdio) -> Daemon {
        self.setup = self.setup.stdout(stdio);
        self
    }

    /// See [`Setup::stderr`]. Default when detaching: `/dev/null`.
    pub fn stderr(mut self, stdio: Stdio) -> Daemon {
        self.setup = self.setup.stderr(stdio);
        self
    }

    /// See [`Setup::user`].
    pub fn user(mut self, user: impl Into<String>) -> Daemon {
        self.setup = self.setup.user(user);
        self
    }

    /// See [`Setup::group`].
    pub fn group(mut self, group: impl Into<String>) -> Daemon {
        self.setup = self.setup.group(group);
        self
    }

    /// See [`Setup::credentials`].
    pub fn credentials(mut self, credentials: Credentials) -> Daemon {
        self.setup = self.setup.credentials(credentials);
        self
    }

    /// See [`Setup::effective_only`] (twistd's `euid`).
    pub fn effective_only(mut self, yes: bool) -> Daemon {
        self.setup = self.setup.effective_only(yes);
        self
    }

    /// See [`Setup::rlimit`].
    pub fn rlimit(mut self, limit: Rlimit) -> Daemon {
        self.setup = self.setup.rlimit(limit);
        self
    }

    /// Keep this descriptor open in the final process (see [`Setup::keep_fd`]).
    pub fn keep_fd(mut self, fd: impl AsFd) -> Daemon {
        self.keep.push(fd.as_fd().as_raw_fd());
        self
    }

    /// See [`Setup::close_fds`]. Default when detaching: `true`.
    pub fn close_fds(mut self, yes: bool) -> Daemon {
        self.setup = self.setup.close_fds(yes);
        self
    }

    /// Make the launcher wait until the service calls [`Detached::ready`] instead of
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
    pub fn start(mut self) -> Result<Detached, Error> {
        if self.detach {
            if !self.setup.has_stdin() {
                self.setup = self.setup.stdin(Stdio::null());
            }
            if !self.setup.has_stdout() {
                self.setup = self.setup.stdout(Stdio::null());
            }
            if !self.setup.has_stderr() {
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
        let prepared = setup.prepare()?;
        if self.detach {
            self.start_detached(prepared)
        } else {
            self.start_here(prepared)
        }
    }

    /// The `nodaemon` case: apply the set-up to this process.
    fn start_here(mut self, prepared: Prepared) -> Result<Detached, Error> {
        let mut keep = std::mem::take(&mut self.keep);
        if let Some(pf) = &self.pid_file {
            keep.push(pf.as_fd().as_raw_fd());
        }
        prepared
            .apply(CloseMode::Close, &keep)
            .map_err(|f| f.to_step_error())?;
        prepared.finish();
        let mut detached = Detached {
            status: None,
            pid_file: self.pid_file.take(),
        };
        detached.write_pid()?;
        Ok(detached)
    }

    fn start_detached(mut self, prepared: Prepared) -> Result<Detached, Error> {
        let threads = thread_count();
        if threads > 1 {
            return Err(Error::Threaded(threads));
        }
        // Buffered output would otherwise be written twice, once by each process.
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();

        let (read, write) = status_pipe(&prepared)?;
        let mut keep = std::mem::take(&mut self.keep);
        keep.push(write.as_raw_fd());
        if let Some(pf) = &self.pid_file {
            keep.push(pf.as_fd().as_raw_fd());
        }
        let subreaper = Subreaper::enable();

        // SAFETY: this process is single-threaded (checked above), so the child is a full
        // copy in a consistent state (no lock held by another thread, no allocator midway).
        // Until the set-up is applied it only makes system calls on prepared values anyway;
        // after that it is the service itself, as free as the single-threaded launcher was.
        match unsafe { nix::unistd::fork() } {
            Err(e) => Err(StepError::new(Step::Fork, e as i32, "").into()),
            Ok(nix::unistd::ForkResult::Child) => {
                drop(read);
                // The flag is not inherited by a child: nothing to restore here.
                std::mem::forget(subreaper);
                let writer = StatusWriter::new(write.as_fd());
                self.middle(&writer);
                // Here only in the final process.
                let _ = writer.pid(std::process::id());
                if let Err(failure) = prepared.apply(CloseMode::Close, &keep) {
                    failure.report(&writer);
                    // SAFETY: leave without running destructors or atexit handlers that
                    // belong to the launcher.
                    unsafe { libc::_exit(1) };
                }
                prepared.finish();
                let mut detached = Detached {
                    status: Some(write),
                    pid_file: self.pid_file.take(),
                };
                if let Err(e) = detached.write_pid() {
                    let _ = writer.failed(e.step(), e.code(), e.detail().as_bytes());
                    // SAFETY: as above.
                    unsafe { libc::_exit(1) };
                }
                if !self.report_ready {
                    let _ = detached.started();
                }
                Ok(detached)
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                drop(write);
                drop(prepared);
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

    /// In the launcher: reap the middle process, read the report, exit 0 or return `Err`.
    fn launcher(mut self, middle: i32, read: OwnedFd) -> Result<Detached, Error> {
        let middle_status = wait_pid(middle, None);
        let report = status::read_report(read.as_fd(), self.report_timeout)
            .map_err(|e| StepError::from_io(Step::Unknown, &e, "reading the status pipe"))?;
        let pid = report.pid;
        match report.outcome {
            Outcome::Started | Outcome::Ready | Outcome::Execed => {
                if let Some(pf) = self.pid_file.take() {
                    pf.disown();
                }
                std::process::exit(0);
            }
            Outcome::TimedOut => {
                if let Some(pf) = self.pid_file.take() {
                    pf.disown();
                }
                Err(Error::Timeout {
                    pid,
                    timeout: self.report_timeout.unwrap_or_default(),
                })
            }
            Outcome::Failed(e) => {
                if let Some(pid) = pid {
                    // It exits right after reporting; reap it if it is our child now.
                    wait_pid(pid as i32, Some(Duration::from_secs(1)));
                }
                release(self.pid_file.take());
                Err(e.into())
            }
            Outcome::Silent => {
                let status = match pid {
                    Some(pid) => wait_pid(pid as i32, Some(Duration::from_secs(1))),
                    None => middle_status,
                };
                release(self.pid_file.take());
                Err(Error::Died { pid, status })
            }
        }
    }
}

/// The detached process's handle on its start-up: the report to the launcher, and the PID
/// file. Dropping it removes the PID file (logging, not failing, if that is impossible) and,
/// if no report was sent yet, makes the launcher fail.
#[derive(Debug)]
pub struct Detached {
    status: Option<OwnedFd>,
    pid_file: Option<PidFile>,
}

impl Detached {
    fn write_pid(&mut self) -> Result<(), StepError> {
        if let Some(pf) = &mut self.pid_file {
            pf.write_pid(std::process::id()).map_err(|e| {
                StepError::from_io(Step::PidFile, &e, pf.path().display().to_string())
            })?;
        }
        Ok(())
    }

    /// Whether a launcher is still waiting for a report.
    pub fn is_reporting(&self) -> bool {
        self.status.is_some()
    }

    /// Reports that the service started: the launcher exits 0. Does nothing if the report
    /// was already sent (or there is no launcher).
    pub fn started(&mut self) -> io::Result<()> {
        match self.status.take() {
            Some(fd) => StatusWriter::new(fd.as_fd()).started(),
            None => Ok(()),
        }
    }

    /// Reports that the service is ready: the launcher exits 0. Does nothing if the report
    /// was already sent (or there is no launcher).
    pub fn ready(&mut self) -> io::Result<()> {
        match self.status.take() {
            Some(fd) => StatusWriter::new(fd.as_fd()).ready(),
            None => Ok(()),
        }
    }

    /// Reports a failure: the launcher's [`Daemon::start`] returns it as [`Error::Step`].
    /// The message is cut to fit [`MESSAGE_MAX`]. Does nothing if the report was already
    /// sent (or there is no launcher).
    pub fn fail(&mut self, error: &StepError) -> io::Result<()> {
        match self.status.take() {
            Some(fd) => StatusWriter::new(fd.as_fd()).failed(
                error.step(),
                error.code(),
                error.detail().as_bytes(),
            ),
            None => Ok(()),
        }
    }

    /// The PID file, if there is one.
    pub fn pid_file(&self) -> Option<&PidFile> {
        self.pid_file.as_ref()
    }

    /// Takes the PID file out, to manage it yourself.
    pub fn take_pid_file(&mut self) -> Option<PidFile> {
        self.pid_file.take()
    }

    /// Replaces this process with `cmd` (`execvp(3)`), keeping the PID file locked: the lock
    /// descriptor loses `FD_CLOEXEC`, so the command inherits it. A launcher still waiting
    /// (start with [`Daemon::report_ready`] so that it does) exits 0 once the exec succeeded:
    /// the status pipe is close-on-exec, and its end of file after the exec announcement is
    /// the success report.
    ///
    /// Caveat: the lock then belongs to the command, which holds it only as long as it keeps
    /// that descriptor open. A program that closes every descriptor it did not open itself
    /// drops the lock, and the PID file then reads as stale. Nobody removes the file when the
    /// command exits; the next start finds it unlocked and takes it over.
    ///
    /// Returns only on failure, with [`Step::Exec`] (also reported to the launcher).
    pub fn exec(mut self, cmd: &mut Command) -> StepError {
        if let Some(pf) = &self.pid_file
            && let Err(e) = rustix::io::fcntl_setfd(pf.as_fd(), rustix::io::FdFlags::empty())
        {
            let e = StepError::from_io(Step::PidFile, &e.into(), pf.path().display().to_string());
            let _ = self.fail(&e);
            return e;
        }
        if let Some(fd) = &self.status {
            let _ = StatusWriter::new(fd.as_fd()).exec();
        }
        let error = cmd.exec();
        let e = StepError::from_io(Step::Exec, &error, cmd.get_program().to_string_lossy());
        if let Some(fd) = self.status.take() {
            let _ = StatusWriter::new(fd.as_fd()).failed(e.step(), e.code(), e.detail().as_bytes());
        }
        if let Some(pf) = &self.pid_file {
            let _ = rustix::io::fcntl_setfd(pf.as_fd(), rustix::io::FdFlags::CLOEXEC);
        }
        e
    }

    /// Removes the PID file now (if it still names the file we locked) and returns the
    /// error, if any, instead of logging it.
    pub fn release(mut self) -> io::Result<()> {
        match self.pid_file.take() {
            Some(pf) => pf.release(),
            None => Ok(()),
        }
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        release(self.pid_file.take());
    }
}

/// Releases a PID file, logging a failure (after a privilege drop or a chroot the file may
/// be out of reach; the lock dies with the process anyway).
fn release(pid_file: Option<PidFile>) {
    if let Some(pf) = pid_file {
        let path = pf.path().to_owned();
        if let Err(e) = pf.release() {
            tracing::warn!(path = %path.display(), error = %e, "could not remove the PID file");
        }
    }
}

/// The status pipe, both ends `O_CLOEXEC`, the write end above any descriptor number the
/// set-up installs.
fn status_pipe(prepared: &Prepared) -> Result<(OwnedFd, OwnedFd), StepError> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| StepError::from_io(Step::Fork, &e.into(), "status pipe"))?;
    let floor = prepared.own_fds().max().map_or(3, |m| m + 1).max(3);
    let write = if write.as_raw_fd() < floor {
        rustix::io::fcntl_dupfd_cloexec(&write, floor)
            .map_err(|e| StepError::from_io(Step::Fork, &e.into(), "status pipe"))?
    } else {
        write
    };
    Ok((read, write))
}

/// Number of threads of this process (`/proc/self/task`); 1 if it cannot be read.
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1)
}

/// Waits for a child: `waitpid(2)`. With a timeout, polls with `WNOHANG` until it passes;
/// `None` if the process is not our child or did not end in time.
fn wait_pid(pid: i32, timeout: Option<Duration>) -> Option<ExitStatus> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let mut status = 0;
        let flags = if deadline.is_some() { libc::WNOHANG } else { 0 };
        // SAFETY: plain system call with a pointer to a live integer.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r == pid {
            return Some(ExitStatus::from_raw(status));
        }
        if r < 0 && errno() != libc::EINTR {
            return None;
        }
        match deadline {
            Some(d) if Instant::now() >= d => return None,
            Some(_) => std::thread::sleep(Duration::from_millis(5)),
            None => {}
        }
    }
}

/// The launcher's child-subreaper flag (`prctl(PR_SET_CHILD_SUBREAPER)`), set for the start
/// and restored afterwards, so that the detached process is re-parented to the launcher when
/// the middle process exits, and the launcher can learn how it died.
struct Subreaper {
    restore: bool,
}

impl Subreaper {
    fn enable() -> Subreaper {
        use rustix::process::{child_subreaper, getpid, set_child_subreaper};
        let was_off = matches!(child_subreaper(), Ok(None));
        let restore = was_off && set_child_subreaper(Some(getpid())).is_ok();
        Subreaper { restore }
    }
}

impl Drop for Subreaper {
    fn drop(&mut self) {
        if self.restore {
            let _ = rustix::process::set_child_subreaper(None);
        }
    }
}

/// The calling thread's `errno`.
fn errno() -> i32 {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}
