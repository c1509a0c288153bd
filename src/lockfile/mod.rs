//! `LockFile`: a lock that records who holds it (PID, acquisition time, host).
//!
//! A lock file is what a job takes to say "I am working on this": a cache directory, a build,
//! a migration. Other processes want to know not only *whether* it is held but *by whom and
//! since when*. `LockFile` is built on the same open-lock-verify primitive as
//! [`PidFile`](crate::pidfile::PidFile) ([`crate::flock`]), so a held lock is one whose holder
//! the kernel knows to be alive. The file records the owner:
//!
//! ```text
//! 4242
//! host=build-7
//! time=2026-11-22T13:21:31.123Z
//! ```
//!
//! The first line is the PID, so every PID-file reader (`pidward status` included) reads a
//! lock file too. The record is written after the lock is taken, into an emptied file, so
//! readers never see half of it.
//!
//! [`LockFile::acquire`] returns a guard, as [`PidFile`](crate::pidfile::PidFile) does: the
//! lock is held while it lives, and dropping it (or [`LockFile::release`]) removes the file if
//! the path still names the inode it locked. A second acquisition by the same process shares
//! the guard.
//!
//! Staleness: a lock file that nobody has flock'ed, left behind by a crashed owner, is
//! *stale*. [`Options::replace_stale`] lets `acquire` take it over; without it, `acquire`
//! reports it (a crash in the middle of work is worth noticing). A record from another host is
//! never judged from this host's process table: it counts as held.
//!
//! Breaking a lock somebody else holds is a separate act, [`break_lock`]: the file is
//! unlinked, and the old holder keeps a lock on an inode nobody can find. Use it only when a
//! person said so.
//!
//! ```
//! use pidward::lockfile::{self, Error, LockFile};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("cache.lock");
//! let lock = LockFile::acquire(&path)?;
//! let owner = lockfile::read(&path)?.expect("recorded");
//! assert_eq!(owner.pid, std::process::id());
//! assert!(lockfile::is_locked(&path)?);
//! lock.release()?;
//! assert!(lockfile::read(&path)?.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs;
use std::io;
use std::path::Path;

use crate::{flock, pidfile};

mod error;
mod guard;
mod record;

pub use error::{Error, Malformed, Step};
pub use guard::{LockFile, Options};
pub use record::{Owner, read};

/// Whether the lock at `path` is held by a live owner: flock'ed by someone (this process
/// included), or recorded by a live process of this host, or recorded by another host (which
/// this host cannot judge). `false` when there is no file.
pub fn is_locked(path: impl AsRef<Path>) -> Result<bool, Error> {
    let path = path.as_ref();
    let file = match pidfile::open_for_reading(path) {
        Ok((file, _)) => file,
        Err(pidfile::Error::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(record::from_reader(path, e)),
    };
    let locked = flock::is_locked(&file).map_err(|source| Error::Io {
        path: path.to_owned(),
        step: Step::TestLock,
        source,
    })?;
    if locked {
        return Ok(true);
    }
    Ok(match read(path)? {
        Some(owner) => !record::is_stale(&owner),
        None => false,
    })
}

/// Break the lock at `path`, whoever holds it: unlink the file and return the owner it
/// recorded (`None` if there was no file, or no readable record).
///
/// A live holder keeps its lock on an inode that no path names any more, and the next
/// [`LockFile::acquire`] creates a new file; that holder's guard, when dropped, leaves the new
/// file alone. This is for an operator who knows the holder is wrong, never for automatic
/// recovery: a stale lock is taken over with [`Options::replace_stale`].
///
/// ```
/// use pidward::lockfile::{self, LockFile};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("job.lock");
/// let stuck = LockFile::acquire(&path)?;
/// let broken = lockfile::break_lock(&path)?.expect("a record");
/// assert_eq!(broken.pid, std::process::id());
/// assert!(!path.exists());
/// drop(stuck); // leaves whatever the path names now alone
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn break_lock(path: impl AsRef<Path>) -> Result<Option<Owner>, Error> {
    let path = path.as_ref();
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                step: Step::Stat,
                source,
            });
        }
        Ok(m) if !m.is_file() => {
            return Err(Error::NotRegular {
                path: path.to_owned(),
                what: flock::describe(m.file_type()),
            });
        }
        Ok(_) => {}
    }
    // A malformed record does not keep an operator from breaking the lock.
    let owner = read(path).unwrap_or(None);
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::Io {
            path: path.to_owned(),
            step: Step::Remove,
            source: e,
        }),
        _ => Ok(owner),
    }
}
