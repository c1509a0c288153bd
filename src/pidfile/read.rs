//! Reading PID files: opened without following a final symlink or blocking on a FIFO, read
//! with `pread(2)` up to a bound (a PID file is one short line; a multi-megabyte file is not
//! read whole), and, when the file is locked but still empty, given a moment for its owner to
//! write.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Error, Step, parse_here};
use crate::flock;

/// How long a reader waits for a locked but empty PID file to get its PID (the owner is
/// between taking the lock and writing).
pub(super) const STARTING_GRACE: Duration = Duration::from_millis(100);

/// The most a reader looks at: a PID is at most 7 digits; anything whose first line is longer
/// than this is not a PID file.
pub(super) const MAX_FIRST_LINE: usize = 64;

/// Read up to `limit` bytes from the start of `file` (a regular file) with `pread(2)`, which
/// returns less than it is asked for only at the end of the file: a short read is the last.
pub(crate) fn read_prefix(file: &File, limit: usize) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; limit];
    let mut len = 0;
    while len < buf.len() {
        let asked = buf.len() - len;
        match file.read_at(&mut buf[len..], len as u64) {
            Ok(0) => break,
            Ok(n) if n < asked => {
                len += n;
                break;
            }
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// The start of the file; if it is empty but locked, wait up to [`STARTING_GRACE`] for its
/// owner to write.
fn read_settled(file: &File) -> io::Result<Vec<u8>> {
    let bytes = read_first_line(file)?;
    if !bytes.is_empty() {
        return Ok(bytes);
    }
    read_settled_locked(file, flock::is_locked(file).unwrap_or(false))
}

pub(super) fn read_settled_locked(file: &File, locked: bool) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + STARTING_GRACE;
    loop {
        let bytes = read_first_line(file)?;
        if !bytes.is_empty() || !locked || Instant::now() >= deadline {
            return Ok(bytes);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The start of the file: enough to see the first line or that it is too long.
pub(super) fn read_first_line(file: &File) -> io::Result<Vec<u8>> {
    read_prefix(file, MAX_FIRST_LINE + 1)
}

/// Open a PID file for reading: no following a final symlink, no blocking on a FIFO.
pub(crate) fn open_for_reading(path: &Path) -> Result<(File, fs::Metadata), Error> {
    let not_regular = |what| Error::NotRegular {
        path: path.to_owned(),
        what,
    };
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => Error::NotFound {
                path: path.to_owned(),
            },
            Some(libc::ELOOP) => not_regular("a symbolic link"),
            Some(libc::ENXIO) => not_regular("a socket or FIFO"),
            _ => Error::io(path, Step::Open, e),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(path, Step::Stat, e))?;
    if !meta.is_file() {
        return Err(not_regular(flock::describe(meta.file_type())));
    }
    Ok((file, meta))
}

fn read_pid_from(path: &Path, file: &File) -> Result<u32, Error> {
    let bytes = read_settled(file).map_err(|e| Error::io(path, Step::Read, e))?;
    parse_here(&bytes).map_err(|reason| Error::Invalid {
        path: path.to_owned(),
        reason,
    })
}

/// Read up to `limit` bytes from the start of the file at `path`, opened as [`read`] opens
/// it; `None` if there is no file.
pub(crate) fn read_start(path: &Path, limit: usize) -> Result<Option<Vec<u8>>, Error> {
    use std::io::Read;
    let file = match open_for_reading(path) {
        Ok((file, _)) => file,
        Err(Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = Vec::new();
    file.take(limit as u64)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, Step::Read, e))?;
    Ok(Some(buf))
}

/// Read the PID in a PID file (first line, surrounding white space trimmed, plain decimal in
/// `1..=pid_max`).
///
/// ```
/// use pidward::pidfile::{read, Error, Invalid};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("nginx.pid");
/// assert!(matches!(read(&path), Err(Error::NotFound { .. })));
/// std::fs::write(&path, "4242\n")?;
/// assert_eq!(read(&path)?, 4242);
/// std::fs::write(&path, "0x10\n")?;
/// assert!(matches!(read(&path), Err(Error::Invalid { reason: Invalid::NotDecimal(_), .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read(path: impl AsRef<Path>) -> Result<u32, Error> {
    let path = path.as_ref();
    let (file, _) = open_for_reading(path)?;
    read_pid_from(path, &file)
}
