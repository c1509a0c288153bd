//! Byte streams that never block: a log file, and pidward's standard error.
//!
//! A full pipe or a stopped terminal must not stop a supervisor, yet `O_NONBLOCK` belongs to
//! the open file description, which the standard error shares with the shell and every other
//! process that inherited it: setting it there would hand them `EAGAIN`. So the standard error
//! is reopened (`open("/proc/self/fd/2")`), which for a pipe or a terminal makes a private
//! description of the same pipe or device, and only that one is non-blocking. A socket (the
//! journal's stream) is written with `send(2)` and `MSG_DONTWAIT` instead; a regular file and
//! `/dev/null` never block, and are written as they are. A line that cannot be written at once is dropped, and counted by the caller.
//!
//! Log files are opened `O_WRONLY|O_APPEND|O_NOFOLLOW|O_CLOEXEC` (a symbolic link is refused,
//! not followed), must be regular files (a FIFO or a device would block or vanish), and are
//! created with exactly the mode asked (`fchmod(2)` after `O_CREAT|O_EXCL`: the umask does not
//! apply). Whether the file was created is remembered, so that a start that fails later can
//! take back what it made.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A file opened for appending, and whether this open created it.
#[derive(Debug)]
pub struct Appended {
    /// The file.
    pub file: File,
    /// Whether it did not exist before.
    pub created: bool,
}

/// [`open(2)`] `path` for appending, creating it with exactly `mode` (module docs). Errors name
/// nothing: the caller adds the path.
///
/// [`open(2)`]: https://man7.org/linux/man-pages/man2/open.2.html
pub fn open_append(path: &Path, mode: u32) -> io::Result<Appended> {
    open_checked(path, mode, false)
}

/// As [`open_append`], for the service's output: a character device (`/dev/console`) is
/// taken too.
pub fn open_output(path: &Path, mode: u32) -> io::Result<Appended> {
    open_checked(path, mode, true)
}

/// The checked open of the two above (`O_APPEND`); `devices` lets a character device
/// through.
fn open_checked(path: &Path, mode: u32, devices: bool) -> io::Result<Appended> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the path"))?;
    let flags =
        libc::O_WRONLY | libc::O_APPEND | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY;
    let open = |extra: libc::c_int| {
        // SAFETY: open(2) on a NUL-terminated path; O_NONBLOCK keeps a FIFO from blocking the
        // open (it is refused below).
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                flags | libc::O_NONBLOCK | extra,
                mode as libc::c_uint,
            )
        };
        if fd < 0 {
            Err(io::Error::last_os_error())
        } else {
            // SAFETY: a descriptor open(2) just returned, owned by nobody else.
            Ok(unsafe { File::from_raw_fd(fd) })
        }
    };
    let (file, created) = match open(0) {
        Ok(f) => (f, false),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            match open(libc::O_CREAT | libc::O_EXCL) {
                Ok(f) => (f, true),
                // Created by someone else meanwhile: open what is there.
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => (open(0)?, false),
                Err(e) => return Err(e),
            }
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a symbolic link (not followed)",
            ));
        }
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a FIFO, not a regular file",
            ));
        }
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    let device = devices && meta.file_type().is_char_device();
    if !meta.file_type().is_file() && !device {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if created {
        // SAFETY: fchmod(2) on the descriptor we own.
        unsafe { libc::fchmod(file.as_raw_fd(), mode as libc::mode_t) };
    }
    // Regular files never block: the flag only served the open.
    crate::sys::set_nonblocking(file.as_fd(), false)?;
    Ok(Appended { file, created })
}

/// Removes `path` if it still names `file` (which this process created and now gives up).
pub fn remove_created(path: &Path, file: &File) {
    if let (Ok(ours), Ok(there)) = (file.metadata(), std::fs::symlink_metadata(path))
        && ours.ino() == there.ino()
        && ours.dev() == there.dev()
    {
        let _ = std::fs::remove_file(path);
    }
}

/// Where a [`Stream`] writes.
#[derive(Debug)]
enum Out {
    /// A private non-blocking description, or a regular file.
    Write(OwnedFd),
    /// A socket: `send(2)` with `MSG_DONTWAIT`.
    Send(OwnedFd),
}

/// A byte stream that never blocks (module docs).
#[derive(Debug)]
pub struct Stream {
    out: Out,
    /// The path it was opened from, for [`Stream::reopen`].
    path: Option<(PathBuf, u32)>,
    /// Whether writes to it are atomic only up to `PIPE_BUF` (a pipe or a terminal).
    pub(crate) small: bool,
}

impl Stream {
    /// A log file (module docs), and whether it was created.
    pub fn file(path: &Path, mode: u32) -> io::Result<(Stream, bool)> {
        let Appended { file, created } = open_append(path, mode)?;
        Ok((
            Stream {
                out: Out::Write(file.into()),
                path: Some((path.to_owned(), mode)),
                small: false,
            },
            created,
        ))
    }

    /// pidward's standard error, as it is now (module docs).
    pub fn stderr() -> io::Result<Stream> {
        // SAFETY: descriptor 2 is open for the life of the process (start-up made sure).
        let two = unsafe { BorrowedFd::borrow_raw(2) };
        // fstat(2) of the descriptor itself (no duplicate to stat and close).
        let stat = rustix::fs::fstat(two)?;
        let kind = stat.st_mode & libc::S_IFMT;
        let (out, small) = match kind {
            libc::S_IFSOCK => (Out::Send(two.try_clone_to_owned()?), false),
            // /dev/null takes every write at once: nothing to make non-blocking.
            libc::S_IFCHR if stat.st_rdev == libc::makedev(1, 3) => {
                (Out::Write(two.try_clone_to_owned()?), false)
            }
            libc::S_IFIFO | libc::S_IFCHR => {
                // SAFETY: open(2) of a constant path.
                let fd = unsafe {
                    libc::open(
                        c"/proc/self/fd/2".as_ptr(),
                        libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY,
                    )
                };
                if fd >= 0 {
                    // SAFETY: a descriptor open(2) just returned.
                    (Out::Write(unsafe { OwnedFd::from_raw_fd(fd) }), true)
                } else {
                    // No /proc: the shared description, as it is.
                    (Out::Write(two.try_clone_to_owned()?), true)
                }
            }
            _ => (Out::Write(two.try_clone_to_owned()?), false),
        };
        Ok(Stream {
            out,
            path: None,
            small,
        })
    }

    /// Opens the file again at its path (after a rotation moved it away). A stream that is not
    /// a file, or whose path cannot be opened, stays as it is (the error is returned).
    pub fn reopen(&mut self) -> io::Result<()> {
        if let Some((path, mode)) = &self.path {
            let Appended { file, .. } = open_append(path, *mode)?;
            self.out = Out::Write(file.into());
        }
        Ok(())
    }

    /// Writes all of `buf` or, if that cannot be done without blocking, as much as can be;
    /// `false` when the line was not (wholly) written.
    pub fn write(&self, buf: &[u8]) -> bool {
        let mut done = 0;
        while done < buf.len() {
            let rest = &buf[done..];
            // SAFETY: write(2)/send(2) from a live buffer on a descriptor we own.
            let n = unsafe {
                match &self.out {
                    Out::Write(fd) => libc::write(fd.as_raw_fd(), rest.as_ptr().cast(), rest.len()),
                    Out::Send(fd) => libc::send(
                        fd.as_raw_fd(),
                        rest.as_ptr().cast(),
                        rest.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    ),
                }
            };
            if n > 0 {
                done += n as usize;
                continue;
            }
            if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return false;
        }
        true
    }

    /// The descriptor, for a detached process to keep.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.out {
            Out::Write(fd) | Out::Send(fd) => fd.as_fd(),
        }
    }
}

/// Whether `$JOURNAL_STREAM` (`DEV:INODE`, set by systemd) names our standard error.
pub fn stderr_is_journal() -> bool {
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    // SAFETY: descriptor 2 is open for the life of the process.
    let two = unsafe { BorrowedFd::borrow_raw(2) };
    let Ok(meta) = two
        .try_clone_to_owned()
        .map(File::from)
        .and_then(|f| f.metadata())
    else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}
