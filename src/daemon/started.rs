//! [`Started`]: the started service's handle on its report and its PID file.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use super::status::StatusWriter;
use crate::child::{self, Step};
use crate::pidfile::PidFile;

/// A started service's handle on its start-up, in the detached process (or in the calling
/// one, without detaching): the report to the launcher, if one waits, and the PID file. Dropping it removes the PID file (logging, not failing, if that is impossible) and,
/// if no report was sent yet, makes the launcher fail.
#[derive(Debug)]
pub struct Started {
    pub(super) status: Option<OwnedFd>,
    pub(super) pid_file: Option<PidFile>,
}

impl Started {
    pub(super) fn write_pid(&mut self) -> Result<(), child::Error> {
        let pid = std::process::id();
        // A process that did not detach already wrote its own PID when it took the file.
        if let Some(pf) = self.pid_file.as_mut().filter(|pf| pf.pid() != Some(pid)) {
            pf.write_pid(pid)
                .map_err(|e| pid_file_error(pf.path(), &e))?;
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

    /// Reports a failure: the launcher's [`Daemon::start`](super::Daemon::start) returns it
    /// as [`Error::Step`](super::Error::Step). The message is cut to fit one status message
    /// (256 bytes). Does nothing if the report was already
    /// sent (or there is no launcher).
    ///
    /// An [`output`](child::Error::output) tail goes first, as many lines as fit (the last
    /// ones); the launcher's error carries it.
    pub fn fail(&mut self, error: &child::Error) -> io::Result<()> {
        match self.status.take() {
            Some(fd) => {
                let writer = StatusWriter::new(fd.as_fd());
                if let Some(output) = error.output() {
                    let start = output.len().saturating_sub(super::status::TAIL_MAX);
                    let start = (start..=output.len())
                        .find(|&i| output.is_char_boundary(i))
                        .unwrap_or(output.len());
                    let lines: Vec<&str> = output[start..].lines().collect();
                    for line in &lines[lines.len().saturating_sub(super::status::TAIL_LINES)..] {
                        writer.tail(line.as_bytes())?;
                    }
                }
                writer.failed(error.step(), error.code(), error.detail().as_bytes())
            }
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

    /// Replaces this process with `exec` (`execve(2)` over its `PATH` candidates, as
    /// `execvp(3)` does, with an empty signal mask), keeping the PID file locked: the lock
    /// descriptor loses `FD_CLOEXEC`, so the command inherits it. A launcher still waiting
    /// (start with [`Daemon::report_ready`](super::Daemon::report_ready) so that it does)
    /// exits 0 once the exec succeeded: the status pipe is close-on-exec, and its end of file
    /// after the exec announcement is the success report.
    ///
    /// Caveat: the lock then belongs to the command, which holds it only as long as it keeps
    /// that descriptor open. A program that closes every descriptor it did not open itself
    /// drops the lock, and the PID file then reads as stale. Nobody removes the file when the
    /// command exits; the next start finds it unlocked and takes it over.
    ///
    /// Returns only on failure, with [`Step::Exec`] (also reported to the launcher).
    pub fn exec(mut self, exec: &child::Exec) -> child::Error {
        if let Some(pf) = &self.pid_file
            && let Err(e) = rustix::io::fcntl_setfd(pf.as_fd(), rustix::io::FdFlags::empty())
        {
            let e =
                child::Error::from_io(Step::PidFile, &e.into(), pf.path().display().to_string());
            let _ = self.fail(&e);
            return e;
        }
        if let Some(fd) = &self.status {
            let _ = StatusWriter::new(fd.as_fd()).exec();
        }
        let e = child::exec_here(exec);
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
    pub fn release(mut self) -> Result<(), crate::pidfile::Error> {
        match self.pid_file.take() {
            Some(pf) => pf.release(),
            None => Ok(()),
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        release(self.pid_file.take());
    }
}

/// A PID-file failure as a start-up step's: the errno, and the path with what was being done.
fn pid_file_error(path: &std::path::Path, e: &crate::pidfile::Error) -> child::Error {
    use std::error::Error as _;
    let errno = e
        .source()
        .and_then(|s| s.downcast_ref::<io::Error>())
        .and_then(io::Error::raw_os_error)
        .unwrap_or(libc::EIO);
    match e {
        crate::pidfile::Error::Io { step, .. } => {
            child::Error::new(Step::PidFile, errno, format!("{}: {step}", path.display()))
        }
        _ => child::Error::new(Step::PidFile, errno, e.to_string()),
    }
}

/// Releases a PID file, logging a failure (after a privilege drop or a chroot the file may
/// be out of reach; the lock dies with the process anyway).
pub(super) fn release(pid_file: Option<PidFile>) {
    if let Some(pf) = pid_file {
        let path = pf.path().to_owned();
        if let Err(e) = pf.release() {
            tracing::warn!(path = %path.display(), error = %e, "could not remove the PID file");
        }
    }
}
