//! Closing every inherited descriptor but the ones a child was given.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use super::errno;

/// Set once `close_range(2)` has answered `ENOSYS` (kernel before 5.9) or `EINVAL` (before
/// 5.11, for `CLOSE_RANGE_CLOEXEC`): every later call goes straight to the per-fd loop instead
/// of paying a failing system call first.
static NO_CLOSE_RANGE: AtomicBool = AtomicBool::new(false);

/// [`close_range(2)`] over every descriptor from `low` up except those in `keep` (any order):
/// closes them, or with `cloexec` marks them close-on-exec instead.
///
/// One `close_range` per gap between kept descriptors. On kernels without it (or without
/// `CLOSE_RANGE_CLOEXEC`) the answer is remembered and a loop of `close(2)` /
/// `fcntl(F_SETFD)` up to the soft `RLIMIT_NOFILE` does the work; `EBADF` there is expected
/// and ignored. Returns the errno of a failure.
///
/// Async-signal-safe: no allocation, no lock, raw system calls and one atomic; for use between
/// `fork`/`clone` and `exec`. The quadratic walk over `keep` costs nothing for the few
/// descriptors a child is given.
///
/// [`close_range(2)`]: https://man7.org/linux/man-pages/man2/close_range.2.html
pub fn close_from(low: u32, keep: &[RawFd], cloexec: bool) -> Result<(), i32> {
    let mut low = low;
    loop {
        // The smallest kept descriptor at or above `low`.
        let next = keep
            .iter()
            .filter(|&&fd| fd >= 0 && fd as u32 >= low)
            .min()
            .map(|&fd| fd as u32);
        match next {
            Some(fd) => {
                if fd > low {
                    close_range(low, fd - 1, cloexec)?;
                }
                if fd == u32::MAX {
                    return Ok(());
                }
                low = fd + 1;
            }
            None => return close_range(low, u32::MAX, cloexec),
        }
    }
}

/// One `close_range(low, high, flags)`, or the per-fd loop where the kernel lacks it.
fn close_range(low: u32, high: u32, cloexec: bool) -> Result<(), i32> {
    if !NO_CLOSE_RANGE.load(Ordering::Relaxed) {
        let flags = if cloexec {
            libc::CLOSE_RANGE_CLOEXEC
        } else {
            0
        };
        // SAFETY: close_range only closes or flags descriptors of this process; the caller
        // means every descriptor in the range to go. The raw call works with C libraries that
        // predate the wrapper.
        let r = unsafe { libc::syscall(libc::SYS_close_range, low, high, flags) };
        if r == 0 {
            return Ok(());
        }
        let e = errno();
        if e != libc::ENOSYS && e != libc::EINVAL {
            return Err(e);
        }
        NO_CLOSE_RANGE.store(true, Ordering::Relaxed);
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a live struct.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur.min(1 << 20) as u32
    } else {
        1024
    };
    let mut fd = low;
    while fd < max && fd <= high {
        // SAFETY: closing or flagging a descriptor the caller means to go; EBADF (not open)
        // is the common answer and harmless.
        unsafe {
            if cloexec {
                libc::fcntl(fd as RawFd, libc::F_SETFD, libc::FD_CLOEXEC);
            } else {
                libc::close(fd as RawFd);
            }
        }
        fd += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// The cloexec mode leaves descriptors open, so it can run inside the test harness.
    #[test]
    fn cloexec_marks_the_gaps_and_spares_the_kept() {
        let files: Vec<_> = (0..4)
            .map(|_| std::fs::File::open("/dev/null").unwrap())
            .collect();
        let fds: Vec<RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
        let low = *fds.iter().min().unwrap();
        for &fd in &fds {
            // SAFETY: clearing FD_CLOEXEC on a descriptor we own.
            assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }, 0);
        }
        // Keep the second and fourth, out of order; only descriptors from `low` are touched.
        let keep = [fds[3], fds[1]];
        close_from(low as u32, &keep, true).unwrap();
        for (i, &fd) in fds.iter().enumerate() {
            // SAFETY: F_GETFD on a descriptor we own.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            let kept = i == 1 || i == 3;
            assert_eq!(flags & libc::FD_CLOEXEC == 0, kept, "fd {fd}");
        }
    }
}
