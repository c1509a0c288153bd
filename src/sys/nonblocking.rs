//! Switching `O_NONBLOCK` on one descriptor.

use std::io;
use std::os::fd::BorrowedFd;

use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};

/// [`fcntl(2)`] `F_GETFL`/`F_SETFL`: turn `O_NONBLOCK` on or off, every other status flag
/// (`O_APPEND`, `O_ASYNC`...) preserved.
///
/// The flag belongs to the open file description, not the descriptor: every process sharing
/// the description sees the change. Makes no second call when the flag is already as asked.
///
/// [`fcntl(2)`]: https://man7.org/linux/man-pages/man2/fcntl.2.html
pub fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let flags = fcntl_getfl(fd)?;
    let wanted = if on {
        flags | OFlags::NONBLOCK
    } else {
        flags - OFlags::NONBLOCK
    };
    if wanted != flags {
        fcntl_setfl(fd, wanted)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn toggles_nonblock_and_keeps_append() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("f"))
            .unwrap();
        set_nonblocking(file.as_fd(), true).unwrap();
        let flags = fcntl_getfl(&file).unwrap();
        assert!(flags.contains(OFlags::NONBLOCK | OFlags::APPEND));
        set_nonblocking(file.as_fd(), false).unwrap();
        let flags = fcntl_getfl(&file).unwrap();
        assert!(!flags.contains(OFlags::NONBLOCK));
        assert!(flags.contains(OFlags::APPEND));
    }
}
