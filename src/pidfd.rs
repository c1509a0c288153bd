//! Process file descriptors: a handle on one process that a recycled PID cannot fool.
//!
//! A PID is a number the kernel hands out again once its process has been reaped; a pidfd
//! (`pidfd_open(2)`, Linux 5.3) refers to one process for as long as the descriptor is open.
//! Signals sent through it (`pidfd_send_signal(2)`) reach that process or fail with `ESRCH`,
//! never a newcomer that inherited the number, and it becomes readable (`poll(2)`) the moment
//! the process exits, zombie or not. pidward signals and waits only through this type.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::PollFlags;
use rustix::process::{Pid, PidfdFlags, pidfd_open, pidfd_send_signal};

use crate::{Signal, sys};

/// An open pidfd.
///
/// ```
/// use pidward::pidfd::PidFd;
/// use std::time::Duration;
///
/// let mut child = std::process::Command::new("sleep").arg("10").spawn()?;
/// let pidfd = PidFd::open(child.id())?;
/// assert!(!pidfd.has_exited()?);
/// pidfd.send_signal(pidward::Signal::TERM)?;
/// assert!(pidfd.wait_timeout(Duration::from_secs(10))?);
/// # child.wait()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct PidFd(OwnedFd);

impl PidFd {
    /// `pidfd_open(pid, 0)`: a handle on the process that has this PID now.
    ///
    /// Fails with `ESRCH` when no such process exists (a zombie still has one).
    pub fn open(pid: u32) -> io::Result<PidFd> {
        let pid = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
        Ok(PidFd(pidfd_open(pid, PidfdFlags::empty())?))
    }

    /// A pidfd the kernel returned otherwise (`clone(CLONE_PIDFD)`).
    pub(crate) fn from_owned(fd: OwnedFd) -> PidFd {
        PidFd(fd)
    }

    /// `pidfd_send_signal(pidfd, sig, NULL, 0)`.
    ///
    /// Fails with `ESRCH` once the process has exited (even while it is a zombie).
    pub fn send_signal(&self, signal: Signal) -> io::Result<()> {
        send_signal(self.0.as_fd(), signal)
    }

    /// Whether the process has exited (`poll(2)` with a zero timeout). A zombie has exited.
    pub fn has_exited(&self) -> io::Result<bool> {
        self.wait_timeout(Duration::ZERO)
    }

    /// `poll(2)` the pidfd until the process exits or `timeout` passes; `true` if it exited.
    ///
    /// Returns the moment the process is gone: there is no sleep-and-check loop.
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<bool> {
        let deadline = Instant::now().checked_add(timeout);
        let revents = sys::poll_fd_until(self.0.as_fd(), PollFlags::IN, deadline)?;
        Ok(!revents.is_empty())
    }
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)` on any pidfd (one from `clone(CLONE_PIDFD)` too).
pub(crate) fn send_signal(pidfd: BorrowedFd<'_>, signal: Signal) -> io::Result<()> {
    // SAFETY: `Signal` only holds numbers in 1..=SIGRTMAX, all valid for the kernel.
    let sig = unsafe { rustix::process::Signal::from_raw_unchecked(signal.as_raw()) };
    Ok(pidfd_send_signal(pidfd, sig)?)
}

impl AsFd for PidFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

impl From<PidFd> for OwnedFd {
    fn from(p: PidFd) -> OwnedFd {
        p.0
    }
}
