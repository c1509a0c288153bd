//! Step 1 and 2 of open-lock-verify: open the path as a lock file and make sure it is one.
//!
//! `open(path, O_CREAT|O_RDWR|O_CLOEXEC|O_NOFOLLOW|O_NOCTTY|O_NONBLOCK)`, trying `O_EXCL` first
//! so that we know whether this call created the file (then its permission bits are ours to
//! set), and `fstat(2)`: anything but a regular file is refused and left alone.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{Error, Step};

/// Open `path` read-write without following a final symbolic link and without blocking,
/// create it if missing, and check that it is a regular file.
///
/// `O_NONBLOCK` stays set: on Linux it has no effect on the I/O of a regular file (only on
/// opening FIFOs and devices, which are refused, and on lease breaks), so clearing it would
/// cost two `fcntl(2)` calls for nothing.
pub(super) fn open_regular(path: &Path, perm: u32) -> Result<(File, fs::Metadata, bool), Error> {
    let open = |create_new: bool| {
        let mut o = fs::OpenOptions::new();
        o.read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
            .mode(perm);
        if create_new {
            o.create_new(true);
        }
        o.open(path)
    };
    loop {
        // O_EXCL first tells us whether we created it (then the mode is ours to set).
        let (result, created) = match open(true) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => (open(false), false),
            other => (other, true),
        };
        let file = match result {
            Ok(f) => f,
            // Vanished between the two opens: go round again.
            Err(e) if !created && e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(classify_open_error(path, e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| Error::io(path, Step::Stat, e))?;
        if !meta.is_file() {
            return Err(Error::NotRegular {
                path: path.to_owned(),
                what: describe(meta.file_type()),
            });
        }
        return Ok((file, meta, created));
    }
}

/// Whether `path` (not following a final symlink, `lstat(2)`) names inode `(dev, ino)`.
pub(crate) fn same_inode(path: &Path, dev: u64, ino: u64) -> bool {
    rustix::fs::lstat(path).is_ok_and(|st| st.st_dev == dev && st.st_ino == ino)
}

fn classify_open_error(path: &Path, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) => Error::NotRegular {
            path: path.to_owned(),
            what: "a symbolic link",
        },
        Some(libc::EISDIR) => Error::NotRegular {
            path: path.to_owned(),
            what: "a directory",
        },
        Some(libc::ENXIO) => Error::NotRegular {
            path: path.to_owned(),
            what: "a socket or FIFO",
        },
        _ => Error::io(path, Step::Open, e),
    }
}

/// A human word for a file type that is not a regular file.
pub(crate) fn describe(ft: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}
