//! The one locking primitive: open, lock, verify.
//!
//! Both [`PidFile`](crate::pidfile::PidFile) and [`LockFile`](crate::lockfile::LockFile) build
//! on [`acquire`], which implements the protocol of the design:
//!
//! 1. `open(path, O_CREAT|O_RDWR|O_CLOEXEC|O_NOFOLLOW|O_NOCTTY|O_NONBLOCK)`: never `O_TRUNC`, so
//!    a failed acquirer cannot damage the holder's content; never through a symbolic link;
//!    never blocking on a FIFO or device that sits where a file belongs.
//! 2. `fstat(2)`: only a regular file is accepted.
//! 3. `flock(2)`, exclusive, non-blocking unless asked to wait.
//! 4. `stat(2)` the path again: if it no longer names the inode we locked (the previous owner
//!    unlinked it between our open and our lock), start over. A lock on an unlinked inode
//!    excludes nobody.
//!
//! Only after step 4 may the caller write. flock(2) locks belong to the open file
//! description: they survive `fork(2)` (the child shares them) and vanish when the last
//! descriptor closes, including when the process dies, which is why a held lock means a live
//! owner.
//!
//! [`is_locked`] answers "is it held?" exactly, with a probe of the lock itself; [`holders`]
//! answers "by whom?" from `/proc/locks`, for messages (`flock/proc_locks.rs`);
//! [`system_locks`] lists every lock on the machine, as `lslocks` does (`flock/system.rs`).
//!
//! On any descriptor, [`lock_until`] and [`unlock`] take or drop either kind of lock the
//! kernel keeps per open file description ([`Kind`]): flock(2) on the whole file, or an open
//! file description byte-range lock with `fcntl(2)` (`flock/ofd.rs`). The two kinds are
//! independent of each other. The re-entry registry of the guards is `flock/registry.rs`.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};

mod fd;
mod ofd;
mod open;
mod proc_locks;
mod registry;
mod system;

pub use fd::{is_locked, lock_until, unlock};
pub use ofd::Range;
use open::open_regular;
pub(crate) use open::{describe, same_inode};
pub use proc_locks::{holders, range_holders};
pub(crate) use registry::Registry;
pub use system::{SystemLock, system_locks};

/// How long to wait for a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Fail at once if another holder has it.
    No,
    /// Wait up to this long.
    Timeout(Duration),
    /// Wait as long as it takes.
    Forever,
}

/// An exclusively locked regular file that the path named when it was locked.
#[derive(Debug)]
pub struct Locked {
    file: File,
    dev: u64,
    ino: u64,
    created: bool,
}

impl Locked {
    /// The open, locked file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The open, locked file, kept: the lock lasts as long as it (or a duplicate) is open.
    pub fn into_file(self) -> File {
        self.file
    }

    /// `st_dev` of the locked inode.
    pub fn dev(&self) -> u64 {
        self.dev
    }

    /// `st_ino` of the locked inode.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Whether this acquisition created the file.
    pub fn created(&self) -> bool {
        self.created
    }
}

/// A step of [`acquire`] that the OS refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// `open(2)`.
    Open,
    /// `fstat(2)`.
    Stat,
    /// `flock(2)`.
    Lock,
    /// `fchmod(2)` of a file this call created.
    SetMode,
}

impl Step {
    /// The step as a verb phrase: "open", "stat", "lock", "set the mode of".
    pub const fn as_str(self) -> &'static str {
        match self {
            Step::Open => "open",
            Step::Stat => "stat",
            Step::Lock => "lock",
            Step::SetMode => "set the mode of",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why [`acquire`] did not lock.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another open file description holds the lock. `file` is open on the inode the path
    /// names, so the caller can read who holds it.
    #[error("{}: locked by another process", path.display())]
    Busy {
        /// The path.
        path: PathBuf,
        /// The file the path names, open read-write, not locked by us.
        file: File,
    },
    /// The path names something that is not a regular file (directory, FIFO, socket, device,
    /// symbolic link).
    #[error("{}: {what}, not a regular file; leaving it alone", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is: "a directory", "a symbolic link"...
        what: &'static str,
    },
    /// An I/O error in one step, named.
    #[error("{}: cannot {step}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The step.
        step: Step,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    fn io(path: &Path, step: Step, source: io::Error) -> Error {
        Error::Io {
            path: path.to_owned(),
            step,
            source,
        }
    }
}

/// Open (creating with permission bits `perm` if missing), lock exclusively, and verify; see
/// the module docs.
///
/// `perm` is applied exactly with `fchmod(2)` when this call creates the file, so the umask
/// does not change it (0 included).
///
/// ```
/// use pidward::flock::{acquire, Error, Wait};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("x.lock");
/// let held = acquire(&path, 0o644, Wait::No)?;
/// assert!(held.created());
/// assert!(matches!(acquire(&path, 0o644, Wait::No), Err(Error::Busy { .. })));
/// drop(held);
/// assert!(acquire(&path, 0o644, Wait::No).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn acquire(path: &Path, perm: u32, wait: Wait) -> Result<Locked, Error> {
    let deadline = match wait {
        Wait::Timeout(t) => Instant::now().checked_add(t),
        _ => None,
    };
    loop {
        let (file, meta, created) = open_regular(path, perm)?;
        let locked = match wait {
            Wait::No => try_lock(&file, path)?,
            Wait::Forever => lock_blocking(&file, path, None)?,
            Wait::Timeout(_) => lock_blocking(&file, path, deadline)?,
        };
        // Verify: does the path still name the inode we opened? If the previous holder
        // unlinked it meanwhile, our lock (or the holder we saw) is on a dead inode: retry.
        let same = same_inode(path, meta.dev(), meta.ino());
        if !same {
            continue;
        }
        if !locked {
            return Err(Error::Busy {
                path: path.to_owned(),
                file,
            });
        }
        if created && meta.mode() & 0o7777 != perm {
            // Exactly the bits asked for, whatever the umask.
            rustix::fs::fchmod(&file, rustix::fs::Mode::from_raw_mode(perm))
                .map_err(|e| Error::io(path, Step::SetMode, e.into()))?;
        }
        return Ok(Locked {
            dev: meta.dev(),
            ino: meta.ino(),
            file,
            created,
        });
    }
}

/// `flock(fd, LOCK_EX|LOCK_NB)`: `Ok(true)` locked, `Ok(false)` held by another.
///
/// A refusal is retried three times over about a millisecond: a status query ([`is_locked`])
/// holds the lock for a microsecond, and must not make a starting service think it is already
/// running. A real holder costs a conflict report that millisecond.
fn try_lock(file: &File, path: &Path) -> Result<bool, Error> {
    for pause in [20, 200, 800, 0] {
        match fd::retry_eintr(|| flock(file, FlockOperation::NonBlockingLockExclusive)) {
            Ok(()) => return Ok(true),
            Err(rustix::io::Errno::WOULDBLOCK) if pause > 0 => {
                std::thread::sleep(Duration::from_micros(pause))
            }
            Err(rustix::io::Errno::WOULDBLOCK) => return Ok(false),
            Err(e) => return Err(Error::io(path, Step::Lock, e.into())),
        }
    }
    Ok(false)
}

/// `flock(fd, LOCK_EX)`, bounded by `deadline` when there is one. Returns `Ok(false)` on
/// timeout.
fn lock_blocking(file: &File, path: &Path, deadline: Option<Instant>) -> Result<bool, Error> {
    lock_until(file.as_fd(), Kind::Flock, Mode::Exclusive, deadline)
        .map_err(|e| Error::io(path, Step::Lock, e))
}

/// Shared or exclusive: `LOCK_SH`/`LOCK_EX` for flock(2), `F_RDLCK`/`F_WRLCK` for fcntl(2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Many holders at once, none exclusive.
    Shared,
    /// One holder.
    Exclusive,
}

/// Which of the kernel's per-open-file-description locks [`lock_until`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// `flock(2)` on the whole file.
    Flock,
    /// An open file description lock on a byte range, `fcntl(2)` `F_OFD_SETLK(W)`: a shared
    /// lock needs a descriptor open for reading, an exclusive one a descriptor open for writing.
    Ofd(Range),
}
