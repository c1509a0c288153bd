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
//! Staleness: a lock file that nobody has flock'ed, left behind by a crashed owner, is
//! *stale*. [`Acquire::replace_stale`] lets `acquire` take it over; without it, `acquire`
//! reports it (a crash in the middle of work is worth noticing). A record from another host is
//! never judged from this host's process table: it counts as held. [`Acquire::force`] breaks
//! any lock, live ones included (the file is unlinked and created anew; the old holder keeps
//! a lock on an inode nobody can find), so use it only when a person said so.
//!
//! ```
//! use pidward::lockfile::{Acquire, LockFile, Error};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("cache.lock");
//! let mut lock = LockFile::new(&path);
//! lock.acquire(Acquire::default())?;
//! let owner = LockFile::read(&path)?.expect("recorded");
//! assert_eq!(owner.pid, std::process::id());
//! assert!(lock.is_locked()? && lock.owned_by_self());
//! lock.release(false)?;
//! assert!(LockFile::read(&path)?.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::flock::{self, Wait};
use crate::liveness::{self, ProcessInfo};

/// Who holds a lock file, as recorded in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The owner's PID (on `host`).
    pub pid: u32,
    /// When the lock was acquired (UTC, millisecond precision).
    pub time: SystemTime,
    /// The host name of the owner.
    pub host: String,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PID {} on host {} since {}",
            self.pid,
            self.host,
            crate::time::Rfc3339(self.time)
        )
    }
}

/// Errors of lock files. Each names the path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process holds the lock (or, with `stale`, held it and died).
    #[error("{}: held by {owner}{}", path.display(), if *stale {
        " (stale: that process is gone; acquire with replace_stale to take it over)"
    } else { "" })]
    Held {
        /// The lock file.
        path: PathBuf,
        /// Its recorded owner.
        owner: Owner,
        /// Whether the owner is known to be dead (only ever judged for this host's records).
        stale: bool,
    },
    /// `release` without `force` on a lock this handle does not hold.
    #[error("{}: not yours to release{}", path.display(), match owner {
        Some(o) => format!(" (held by {o})"),
        None => String::new(),
    })]
    NotOwner {
        /// The lock file.
        path: PathBuf,
        /// Its recorded owner, if any.
        owner: Option<Owner>,
    },
    /// The file exists but is not a lock record.
    #[error("{}: malformed lock file: {why}", path.display())]
    Malformed {
        /// The lock file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The file could not be opened or read as a PID file is (it is not a regular file, it is
    /// unreadable, or its first line is no PID).
    #[error(transparent)]
    Read {
        /// What the PID-file reader found.
        source: crate::pidfile::Error,
    },
    /// An I/O error, with the step.
    #[error("{}: cannot {step}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The step.
        step: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// How [`LockFile::acquire`] treats an existing lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Acquire {
    /// Take over a lock whose owner on this host is dead (or whose record is malformed).
    pub replace_stale: bool,
    /// Take the lock even from a live owner.
    pub force: bool,
}

/// A lock file handle; see the module docs. Dropping a handle that holds the lock releases it.
#[derive(Debug)]
pub struct LockFile {
    path: PathBuf,
    held: Option<Arc<Held>>,
}

#[derive(Debug)]
struct Held {
    file: File,
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        // Remove only what is ours, while still locked; the lock goes with the descriptor.
        if flock::same_inode(&self.path, self.dev, self.ino) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Locks this process holds, so a second handle of the owner re-enters.
static HELD: flock::Registry<Held> = flock::Registry::new();

fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

impl LockFile {
    /// A handle on the lock file at `path`; nothing is touched until [`acquire`](Self::acquire).
    pub fn new(path: impl AsRef<Path>) -> LockFile {
        LockFile {
            path: path.as_ref().to_owned(),
            held: None,
        }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Take the lock. Succeeds if nobody holds it, if this process holds it already
    /// (re-entrant), if the holder is stale and `replace_stale` is set, or if `force` is set.
    pub fn acquire(&mut self, how: Acquire) -> Result<&mut LockFile, Error> {
        if self.held.is_some() {
            return Ok(self);
        }
        if let Some(held) = self.held_by_this_process() {
            self.held = Some(held);
            return Ok(self);
        }
        let io = |step, source| Error::Io {
            path: self.path.clone(),
            step,
            source,
        };
        for _ in 0..8 {
            match flock::acquire(&self.path, 0o644, Wait::No) {
                Ok(locked) => {
                    // Unlocked: any previous record is a crashed owner's, or another tool's.
                    let created = locked.created();
                    if !created && !how.force {
                        self.check_unlocked_record(locked.file(), how)?;
                    }
                    let (dev, ino) = (locked.dev(), locked.ino());
                    let held = Arc::new(Held {
                        file: locked.into_file(),
                        path: self.path.clone(),
                        dev,
                        ino,
                    });
                    write_record(&held.file, created).map_err(|e| io("write", e))?;
                    HELD.insert(held.dev, held.ino, &held);
                    self.held = Some(held);
                    return Ok(self);
                }
                Err(flock::Error::Busy { file, .. }) => {
                    if !how.force {
                        let owner = match parse_record(&read_all(&file).map_err(|e| io("read", e))?)
                        {
                            Ok(owner) => owner,
                            // Locked while the owner writes its record: name the lock holder.
                            Err(_) => Owner {
                                pid: holder_of(&file).unwrap_or(0),
                                time: SystemTime::now(),
                                host: hostname(),
                            },
                        };
                        return Err(Error::Held {
                            path: self.path.clone(),
                            owner,
                            stale: false,
                        });
                    }
                    // Break it: unlink the held inode (if the path still names it) and retry.
                    let meta = file.metadata().map_err(|e| io("stat", e))?;
                    if let Ok(now) = fs::symlink_metadata(&self.path)
                        && now.dev() == meta.dev()
                        && now.ino() == meta.ino()
                    {
                        fs::remove_file(&self.path).map_err(|e| io("remove", e))?;
                    }
                }
                Err(flock::Error::NotRegular { what, .. }) => {
                    return Err(Error::Malformed {
                        path: self.path.clone(),
                        why: format!("it is {what}, not a regular file"),
                    });
                }
                Err(flock::Error::Io { step, source, .. }) => {
                    return Err(io(step.as_str(), source));
                }
            }
        }
        Err(io(
            "lock",
            io::Error::other("the file kept changing under us"),
        ))
    }

    /// The lock was free (unlocked); decide whether a record left in it lets us take over.
    fn check_unlocked_record(&self, file: &File, how: Acquire) -> Result<(), Error> {
        let bytes = read_all(file).map_err(|e| Error::Io {
            path: self.path.clone(),
            step: "read",
            source: e,
        })?;
        if bytes.is_empty() {
            return Ok(());
        }
        let owner = match parse_record(&bytes) {
            Ok(o) => o,
            Err(why) if how.replace_stale => {
                tracing::debug!(path = %self.path.display(), %why, "replacing malformed lock file");
                return Ok(());
            }
            Err(why) => {
                return Err(Error::Malformed {
                    path: self.path.clone(),
                    why,
                });
            }
        };
        let stale = record_is_stale(&owner);
        if stale && how.replace_stale {
            return Ok(());
        }
        Err(Error::Held {
            path: self.path.clone(),
            owner,
            stale,
        })
    }

    fn held_by_this_process(&self) -> Option<Arc<Held>> {
        HELD.get(&self.path)
    }

    /// Release the lock. Without `force`, only a handle of the owning process may; with
    /// `force`, the file is removed whoever holds it.
    pub fn release(&mut self, force: bool) -> Result<(), Error> {
        if let Some(held) = self.held.take() {
            drop(held);
            return Ok(());
        }
        if let Some(held) = self.held_by_this_process() {
            drop(held);
            return Ok(());
        }
        let owner = match LockFile::read(&self.path) {
            Ok(o) => o,
            Err(_) if force => None,
            Err(e) => return Err(e),
        };
        if !force {
            return match owner {
                // Nothing to release.
                None => Ok(()),
                Some(owner) => Err(Error::NotOwner {
                    path: self.path.clone(),
                    owner: Some(owner),
                }),
            };
        }
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::Io {
                path: self.path.clone(),
                step: "remove",
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// The recorded owner, if the file exists (see [`LockFile::read`]).
    pub fn owner(&self) -> Result<Option<Owner>, Error> {
        LockFile::read(&self.path)
    }

    /// Whether the lock is held by a live owner: flock'ed by someone, or recorded by a live
    /// process of this host, or recorded by another host (which this host cannot judge).
    pub fn is_locked(&self) -> Result<bool, Error> {
        if self.held.is_some() {
            return Ok(true);
        }
        let file = match crate::pidfile::open_for_reading(&self.path) {
            Ok((file, _)) => file,
            Err(crate::pidfile::Error::NotFound { .. }) => return Ok(false),
            Err(source) => return Err(Error::Read { source }),
        };
        let locked = flock::is_locked(&file).map_err(|source| Error::Io {
            path: self.path.clone(),
            step: "test the lock of",
            source,
        })?;
        if locked {
            return Ok(true);
        }
        Ok(match LockFile::read(&self.path)? {
            Some(owner) => !record_is_stale(&owner),
            None => false,
        })
    }

    /// Whether this process holds the lock (through this handle or another one).
    pub fn owned_by_self(&self) -> bool {
        self.held.is_some() || self.held_by_this_process().is_some()
    }

    /// Read the record of any lock file: `None` if there is no file or it is empty (an owner
    /// between locking and writing, or a lock file that records nothing).
    pub fn read(path: impl AsRef<Path>) -> Result<Option<Owner>, Error> {
        let path = path.as_ref();
        let bytes = match crate::pidfile::read_start(path, MAX_RECORD) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(None),
            Err(source) => return Err(Error::Read { source }),
        };
        if bytes.is_empty() {
            return Ok(None);
        }
        parse_record(&bytes)
            .map(Some)
            .map_err(|why| Error::Malformed {
                path: path.to_owned(),
                why,
            })
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        self.held.take();
    }
}

/// The most of a lock file we read: a record is well under this.
const MAX_RECORD: usize = 4096;

fn holder_of(file: &File) -> Option<u32> {
    let m = file.metadata().ok()?;
    flock::holders(m.dev(), m.ino()).ok()?.first().copied()
}

/// A record of this host whose owner is dead (or a reused PID). Other hosts' records are never
/// stale from here.
fn record_is_stale(owner: &Owner) -> bool {
    if owner.host != hostname() {
        return false;
    }
    if !liveness::probe(owner.pid).is_alive() {
        return true;
    }
    ProcessInfo::of(owner.pid)
        .map(|info| info.started_after(owner.time))
        .unwrap_or(true)
}

fn read_all(file: &File) -> io::Result<Vec<u8>> {
    crate::pidfile::read_prefix(file, MAX_RECORD)
}

/// Write our record into the (locked) file. Like a PID, the record is only ever written into
/// an empty file: bytes overwritten in place would be visible to readers one by one.
fn write_record(file: &File, fresh: bool) -> io::Result<()> {
    let text = format!(
        "{}\nhost={}\ntime={}\n",
        std::process::id(),
        hostname(),
        crate::time::Rfc3339(SystemTime::now())
    );
    if !fresh {
        file.set_len(0)?;
    }
    file.write_all_at(text.as_bytes(), 0)
}

fn parse_record(bytes: &[u8]) -> Result<Owner, String> {
    if bytes.len() >= MAX_RECORD {
        return Err(format!("longer than {MAX_RECORD} bytes"));
    }
    let pid = crate::pidfile::parse(bytes, liveness::pid_max()).map_err(|e| e.to_string())?;
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    let mut host = None;
    let mut time = None;
    for line in text.lines().skip(1) {
        match line.split_once('=') {
            Some(("host", h)) if !h.trim().is_empty() => host = Some(h.trim().to_owned()),
            Some(("time", t)) => {
                time = Some(crate::time::parse_rfc3339(t).map_err(|_| format!("bad time {t:?}"))?)
            }
            _ => {}
        }
    }
    Ok(Owner {
        pid,
        host: host.ok_or("no host= line")?,
        time: time.ok_or("no time= line")?,
    })
}
