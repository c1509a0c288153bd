//! The command check of a readiness probe: started through the child set-up engine
//! ([`crate::child::spawn`]: a clean signal slate, standard input and output on `/dev/null`,
//! `KILL` if the supervisor dies), watched through its pidfd, reaped here with `waitpid(2)`.
//! A subreaper's sweep of exited orphans leaves it alone meanwhile
//! ([`crate::sys::subreaper::spare`]). A check still running when the probe ends is killed
//! and reaped.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::Signal;
use crate::child::{self, Exec, Setup, Stdio};
use crate::sys::subreaper;

/// A check command running.
#[derive(Debug)]
pub(super) struct Running {
    pid: u32,
    pidfd: OwnedFd,
    reaped: bool,
}

impl Running {
    /// Starts `exec`.
    pub(super) fn start(exec: &Exec) -> io::Result<Running> {
        let plan = Setup::new()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .parent_death_signal(Some(Signal::KILL))
            .prepare()
            .map_err(|e| io::Error::new(e.os_error().kind(), e))?;
        let (pid, pidfd) = child::spawn(&plan, exec)
            .map_err(|e| io::Error::new(e.os_error().kind(), e))?
            .into_parts();
        subreaper::spare(pid as i32);
        Ok(Running {
            pid,
            pidfd,
            reaped: false,
        })
    }

    /// `Some(exited 0)` once it has ended, `None` while it runs.
    pub(super) fn poll(&mut self) -> Option<bool> {
        let status = self.reap(libc::WNOHANG)?;
        Some(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0)
    }

    /// `waitpid(2)` on the check; its raw status once reaped.
    fn reap(&mut self, flags: libc::c_int) -> Option<libc::c_int> {
        if self.reaped {
            return None;
        }
        let mut status = 0;
        loop {
            // SAFETY: waitpid(2) on our own child, spared by the subreaper's sweep.
            let r = unsafe { libc::waitpid(self.pid as libc::pid_t, &mut status, flags) };
            if r == -1 && crate::sys::errno() == libc::EINTR {
                continue;
            }
            if r == 0 {
                return None;
            }
            self.reaped = true;
            subreaper::spare(0);
            // ECHILD: someone else reaped it; it counts as a failed check.
            return Some(if r > 0 { status } else { 1 << 8 });
        }
    }
}

impl AsFd for Running {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        // pidfd_send_signal(2): never a recycled PID. Then a blocking reap: KILL is prompt.
        let _ = rustix::process::pidfd_send_signal(&self.pidfd, rustix::process::Signal::KILL);
        let _ = self.reap(0);
    }
}
