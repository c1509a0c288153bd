//! Process start-up: the part of std's runtime start-up that `pidward` keeps.
//!
//! A std `main` is called after `std::rt::init`, which on Linux does, besides recording the
//! main thread and the arguments (glibc hands those to std itself, before any `main`), three
//! things:
//!
//! 1. reopens any of fds 0, 1 and 2 that is closed on `/dev/null`, so that the next file
//!    opened cannot become "standard output" by accident (a lock file that a stray `println!`
//!    writes into);
//! 2. sets `SIGPIPE` to ignored, so that writing to a closed pipe is an `EPIPE` error, and
//!    std's `Command` sets it back to the default in every child;
//! 3. installs a stack-overflow guard: it asks glibc for the main thread's stack
//!    (`pthread_getattr_np`, which reads and parses `/proc/self/maps`), maps an alternate
//!    signal stack and installs `SIGSEGV` and `SIGBUS` handlers, only to print "has overflowed
//!    its stack" before aborting.
//!
//! The first two are part of `pidward`'s behaviour and are kept, unchanged. The third is a
//! dozen system calls plus the kernel's rendering of `/proc/self/maps` on every start of a
//! program whose start-up is on its callers' critical path; without it a stack overflow is a
//! plain `SIGSEGV`, which is how a C program such as flock(1) reports one too.

use std::io;

/// Make fds 0-2 valid and ignore `SIGPIPE`, as std's runtime start-up does.
///
/// # Safety
///
/// Call once, first thing in `main`, while the process has a single thread: it changes a
/// signal disposition and may open files onto fds 0-2.
pub unsafe fn init() {
    reopen_closed_stdio();
    // SAFETY: `signal(2)` with `SIG_IGN` installs no handler; no other thread exists to race.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Open `/dev/null` on each of fds 0-2 that is closed, found with one `poll(2)` (`POLLNVAL`).
fn reopen_closed_stdio() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `poll(2)` on a valid array of three pollfds, with a zero timeout.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if n == 0 {
        return;
    }
    if n < 0 {
        // Only EINTR/ENOMEM are possible; fall back to asking each fd (`fcntl(F_GETFD)`).
        for p in &mut fds {
            // SAFETY: `fcntl(2)` F_GETFD on a number; it only reports.
            let closed = unsafe { libc::fcntl(p.fd, libc::F_GETFD) } == -1
                && io::Error::last_os_error().raw_os_error() == Some(libc::EBADF);
            p.revents = if closed { libc::POLLNVAL } else { 0 };
        }
    }
    for p in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: `open(2)` of a constant C string. The lowest free fd is `p.fd`, because
        // the lower closed ones were reopened first, so the result lands where it belongs.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if fd != p.fd {
            // No /dev/null (a bare chroot): std aborts here too, rather than run with a
            // standard fd that the next open(2) would take.
            std::process::abort();
        }
    }
}
