//! The pidfd system calls the child handle needs: signal (shared with [`crate::pidfd`]) and reap.
//!
//! A pidfd names one process for as long as the fd is open, even after it died, so a signal
//! sent through it can never reach a process that later got the same PID. The handle gets its
//! pidfd from `clone(CLONE_PIDFD)` at creation, before the child can possibly exit, and reaps
//! with `waitid(P_PIDFD)`, so it never needs a bare PID for anything.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::exit::ExitReason;
use crate::Signal;

pub(crate) use crate::pidfd::send_signal;

/// `PIDFD_SIGNAL_PROCESS_GROUP` (`include/uapi/linux/pidfd.h`, Linux 6.9).
const PIDFD_SIGNAL_PROCESS_GROUP: libc::c_uint = 1 << 2;

/// `pidfd_send_signal(2)` with `PIDFD_SIGNAL_PROCESS_GROUP`: sends `signal` to the process
/// group led by the pidfd's process. The group is named by the kernel's reference to that
/// process, never by a number, so it cannot be a recycled group. `EINVAL` on kernels before
/// 6.9, which do not know the flag.
pub(crate) fn signal_group(pidfd: BorrowedFd<'_>, signal: Signal) -> io::Result<()> {
    // SAFETY: raw pidfd_send_signal(pidfd, sig, NULL, flags): a valid fd, a valid signal
    // number, no siginfo.
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

/// `waitid(P_PIDFD, WEXITED)`: reaps the child behind `pidfd`. With `block == false` (adds
/// `WNOHANG`) it returns `Ok(None)` while the child is still running.
pub(crate) fn wait(pidfd: BorrowedFd<'_>, block: bool) -> io::Result<Option<ExitReason>> {
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
        return ExitReason::from_siginfo(info.si_code, status).map(Some);
    }
}
