//! Open file description locks on byte ranges: `fcntl(2)` `F_OFD_SETLK` / `F_OFD_SETLKW`.
//!
//! These are POSIX record locks with flock(2)'s ownership: they belong to the open file
//! description, not to the process, so they are shared with children that inherit the
//! descriptor, are not dropped when some other descriptor of the same file is closed (the
//! classic POSIX lock trap), and conflict between two descriptions in the same process. They
//! lock a byte range, and they are independent of flock(2) locks on the same file: a file can
//! carry both at once (Linux 3.15 and later).
//!
//! A shared (read) lock needs a descriptor open for reading and an exclusive (write) lock one
//! open for writing; the kernel answers `EBADF` otherwise.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::Mode;

/// A byte range to lock: `len` bytes from `start`, or with `len` 0 everything from `start`
/// on, however far the file grows (the `l_len == 0` convention of `fcntl(2)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    start: u64,
    len: u64,
}

impl Range {
    /// The whole file, including what is appended later.
    pub const WHOLE: Range = Range { start: 0, len: 0 };

    /// `len` bytes from `start` (`len` 0: to the end and beyond).
    ///
    /// ```
    /// use pidward::flock::Range;
    /// assert_eq!(Range::new(0, 0), Range::WHOLE);
    /// assert_eq!(Range::new(1, 2).start(), 1);
    /// ```
    pub const fn new(start: u64, len: u64) -> Range {
        Range { start, len }
    }

    /// The first byte.
    pub const fn start(&self) -> u64 {
        self.start
    }

    /// How many bytes; 0 means to the end of the file, however far it grows.
    pub const fn length(&self) -> u64 {
        self.len
    }
}

/// The `F_OFD_SETLK(W)` command on `fd` for `l_type` over `range`, retrying `EINTR` when it
/// blocks.
fn set_lock(fd: BorrowedFd<'_>, cmd: libc::c_int, l_type: i32, range: Range) -> io::Result<()> {
    // An offset beyond off_t: what the kernel answers for a range it cannot represent.
    let (Ok(start), Ok(len)) = (i64::try_from(range.start), i64::try_from(range.len)) else {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    };
    // SAFETY: an all-zero `struct flock` is a valid value (l_pid must be 0 for OFD locks).
    let mut arg: libc::flock = unsafe { std::mem::zeroed() };
    arg.l_type = l_type as libc::c_short;
    arg.l_whence = libc::SEEK_SET as libc::c_short;
    arg.l_start = start;
    arg.l_len = len;
    loop {
        // SAFETY: fcntl(2) with a lock command reads the `struct flock` we own for the call's
        // duration; the descriptor is borrowed, hence open.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, &mut arg as *mut libc::flock) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if cmd == libc::F_OFD_SETLKW && e.raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return Err(e);
    }
}

fn l_type(mode: Mode) -> i32 {
    match mode {
        Mode::Shared => libc::F_RDLCK,
        Mode::Exclusive => libc::F_WRLCK,
    }
}

/// `fcntl(fd, F_OFD_SETLK)`: `Ok(true)` locked, `Ok(false)` held by another description
/// (`EAGAIN`, or `EACCES`, which POSIX allows for the same case).
pub(super) fn try_lock(fd: BorrowedFd<'_>, mode: Mode, range: Range) -> io::Result<bool> {
    match set_lock(fd, libc::F_OFD_SETLK, l_type(mode), range) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `fcntl(fd, F_OFD_SETLKW)`: wait for the lock as long as it takes, retrying `EINTR`.
pub(super) fn lock(fd: BorrowedFd<'_>, mode: Mode, range: Range) -> io::Result<()> {
    set_lock(fd, libc::F_OFD_SETLKW, l_type(mode), range)
}

/// `fcntl(fd, F_OFD_SETLK)` with `F_UNLCK`: drop this description's lock on `range`.
pub(super) fn unlock(fd: BorrowedFd<'_>, range: Range) -> io::Result<()> {
    set_lock(fd, libc::F_OFD_SETLK, libc::F_UNLCK, range)
}
