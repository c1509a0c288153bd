//! Process file descriptors: a handle on one process that a recycled PID cannot fool.
//!
//! A PID is a number the kernel hands out again once its process has been reaped; a pidfd
//! (`pidfd_open(2)`, Linux 5.3) refers to one process for as long as the descriptor is open.
//! Signals sent through it (`pidfd_send_signal(2)`) reach that process or fail with `ESRCH`,
//! never a newcomer that inherited the number, and it becomes readable (`poll(2)`) the moment
//! the process exits, zombie or not. pidward signals and waits only through this type.
//!
//! The parent of a process can also reap it through its pidfd (`waitid(P_PIDFD)`, Linux 5.4),
//! and signal the process group the process leads (`PIDFD_SIGNAL_PROCESS_GROUP`, Linux 6.9):
//! both name the process by the kernel's reference, never by a number that may be reused.

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

    /// `pidfd_send_signal(2)` with `PIDFD_SIGNAL_PROCESS_GROUP`: `signal` to the process group
    /// that the process leads. `EINVAL` on kernels before 6.9, which lack the flag.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn signal_group(&self, signal: Signal) -> io::Result<()> {
        signal_group(self.0.as_fd(), signal)
    }

    /// `waitid(P_PIDFD, pidfd, WEXITED)`: reaps the process (a child of the caller); with
    /// `block == false` (`WNOHANG`) `Ok(None)` while it is still running.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn reap(&self, block: bool) -> io::Result<Option<Reaped>> {
        reap(self.0.as_fd(), block)
    }

    /// Whether the process has exited (`poll(2)` with a zero timeout). A zombie has exited.
    pub fn has_exited(&self) -> io::Result<bool> {
        self.wait_timeout(Duration::ZERO)
    }

    /// Whether the process has exited, asked without `poll(2)`: `pidfd_send_signal(pidfd, 0,
    /// NULL, 0)`, the null signal (only the checks, nothing delivered), which fails with
    /// `ESRCH` once the process has exited (a zombie included).
    pub(crate) fn has_exited_by_signal(&self) -> io::Result<bool> {
        // SAFETY: pidfd_send_signal(pidfd, 0, NULL, 0): a pidfd we own, the null signal, no
        // siginfo, no flags. A raw system call, because rustix's `Signal` has no 0.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                0,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if ret == 0 {
            return Ok(false);
        }
        match io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::ESRCH) => Ok(true),
            e => Err(e),
        }
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

/// `PIDFD_SIGNAL_PROCESS_GROUP` (`include/uapi/linux/pidfd.h`, Linux 6.9).
const PIDFD_SIGNAL_PROCESS_GROUP: libc::c_uint = 1 << 2;

/// [`pidfd_send_signal(2)`](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
/// with `PIDFD_SIGNAL_PROCESS_GROUP`: the group is named by the kernel's reference to the
/// process that leads it, so it cannot be a recycled group. A raw system call, because rustix
/// has no flags argument.
#[cfg_attr(not(feature = "process"), allow(dead_code))]
fn signal_group(pidfd: BorrowedFd<'_>, signal: Signal) -> io::Result<()> {
    // SAFETY: pidfd_send_signal(pidfd, sig, NULL, flags): a valid fd, a valid signal number,
    // no siginfo.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal.as_raw(),
            std::ptr::null::<libc::siginfo_t>(),
            PIDFD_SIGNAL_PROCESS_GROUP,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// How a reaped child terminated: `waitid(2)`'s `si_code` (`CLD_EXITED`, `CLD_KILLED`,
/// `CLD_DUMPED`) and `si_status` (the exit code or the signal number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reaped {
    pub(crate) code: i32,
    pub(crate) status: i32,
}

/// [`waitid(2)`](https://man7.org/linux/man-pages/man2/waitid.2.html) with `P_PIDFD` and
/// `WEXITED` (plus `WNOHANG` unless `block`), retrying `EINTR`: reaps exactly the child
/// behind `pidfd`. `Ok(None)` when `WNOHANG` finds it still running.
pub(crate) fn reap(pidfd: BorrowedFd<'_>, block: bool) -> io::Result<Option<Reaped>> {
    let mut flags = libc::WEXITED;
    if !block {
        flags |= libc::WNOHANG;
    }
    loop {
        // SAFETY: siginfo_t is plain data; zeroed so that si_pid reads 0 when WNOHANG finds
        // nothing to report.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes into `info`, which lives for the call.
        let ret = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                flags,
            )
        };
        if ret != 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        // SAFETY: waitid filled in the SIGCHLD fields of the union (or left them zero).
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if pid == 0 {
            return Ok(None);
        }
        return Ok(Some(Reaped {
            code: info.si_code,
            status,
        }));
    }
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
