//! Writing to a pipe without ever getting `SIGPIPE`.
//!
//! `write(2)` to a pipe whose read end is closed fails with `EPIPE` *and* sends `SIGPIPE` to the
//! writing thread, which kills the process under the default disposition. Sockets have
//! `MSG_NOSIGNAL`; pipes have nothing of the kind. Rust's runtime sets `SIGPIPE` to `SIG_IGN`
//! before `main` (tokio::process relies on exactly that), but a library cannot count on it: a
//! program built with `-Zon-broken-pipe=kill`, a C program embedding Rust, or any code that
//! called `signal(SIGPIPE, SIG_DFL)` would die when a child closes its stdin early.
//!
//! So each write first asks the kernel for the current disposition (`rt_sigaction` with no new
//! action, one cheap system call). When `SIGPIPE` is ignored the write goes straight through.
//! Otherwise the write runs with `SIGPIPE` blocked in this thread (the signal from a pipe write
//! is directed at the writing thread); if it failed with `EPIPE` and no `SIGPIPE` was pending
//! before, the one it raised is consumed with a zero-timeout `sigtimedwait`; then the thread's
//! mask is restored. The caller sees `BrokenPipe` and the process never sees the signal. This is
//! the technique OpenSSL and Git use; it is per thread, so it is safe on tokio's worker threads.

use std::io;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

/// Whether `SIGPIPE` is currently ignored (`sigaction(2)` query).
fn sigpipe_ignored() -> bool {
    // SAFETY: a query-only sigaction into a zeroed struct.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGPIPE, ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// `writev(2)` of up to `IOV_MAX` slices.
fn writev(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let count = bufs.len().min(1024) as libc::c_int;
    // SAFETY: IoSlice is ABI-compatible with struct iovec on Unix; the slices outlive the call.
    let n = unsafe { libc::writev(fd.as_raw_fd(), bufs.as_ptr().cast(), count) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `writev(2)` that reports a closed read end as `BrokenPipe` without raising `SIGPIPE` in
/// this process (see the module docs).
pub(crate) fn write_vectored(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    if sigpipe_ignored() {
        return writev(fd, bufs);
    }
    // SAFETY: sigemptyset/sigaddset/sigpending/sigismember on local sets; pthread_sigmask only
    // changes this thread's mask and is restored below on every path.
    unsafe {
        let mut pipe_set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe_set);
        libc::sigaddset(&mut pipe_set, libc::SIGPIPE);
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut pending);
        let was_pending = libc::sigismember(&pending, libc::SIGPIPE) == 1;
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe_set, &mut old);
        let result = writev(fd, bufs);
        if !was_pending && matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EPIPE)) {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            while libc::sigtimedwait(&pipe_set, ptr::null_mut(), &zero) == -1
                && *libc::__errno_location() == libc::EINTR
            {}
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
        result
    }
}
