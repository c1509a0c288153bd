//! Taking a lock file: [`Options`], and the [`LockFile`] guard that holds it.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Error, Step, record};
use crate::flock::{self, Wait};

/// How to take a lock file; start from [`LockFile::options`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    replace_stale: bool,
}

impl Options {
    /// Take over a lock whose owner on this host is dead, or whose record is malformed.
    /// Default: no (the stale lock is reported: a crash in the middle of work is worth
    /// noticing). A record from another host is never stale from here.
    pub fn replace_stale(mut self, yes: bool) -> Options {
        self.replace_stale = yes;
        self
    }

    /// Take the lock at `path`: succeeds if nobody holds it, if this process holds it already
    /// (the guards share it), or if the holder is stale and [`replace_stale`] is set.
    ///
    /// [`replace_stale`]: Options::replace_stale
    pub fn acquire(&self, path: impl AsRef<Path>) -> Result<LockFile, Error> {
        acquire(path.as_ref(), self)
    }
}

/// A held lock file: the lock is held and the file records this process for as long as the
/// guard (or another guard of this process on the same file) lives.
///
/// Dropping the last guard removes the file if the path still names the inode it locked, then
/// unlocks.
#[derive(Debug)]
pub struct LockFile {
    held: Arc<Held>,
}

#[derive(Debug)]
struct Held {
    file: File,
    path: PathBuf,
    dev: u64,
    ino: u64,
    /// Set once the file has been removed, so that it is removed once.
    done: AtomicBool,
}

impl Held {
    fn remove(&self) -> std::io::Result<()> {
        if self.done.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Remove only what is ours, while still locked; the lock goes with the descriptor.
        if !flock::same_inode(&self.path, self.dev, self.ino) {
            return Ok(());
        }
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove lock file");
        }
    }
}

/// Locks this process holds, so that a second acquisition by the owner shares the guard.
static HELD: flock::Registry<Held> = flock::Registry::new();

impl LockFile {
    /// Take the lock at `path` with the default options.
    pub fn acquire(path: impl AsRef<Path>) -> Result<LockFile, Error> {
        Options::default().acquire(path)
    }

    /// Options for [`Options::acquire`].
    ///
    /// ```
    /// use pidward::lockfile::LockFile;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("job.lock");
    /// // A record left by a process of this host that is gone.
    /// let mut gone = std::process::Command::new("true").spawn()?;
    /// gone.wait()?;
    /// let host = nix::unistd::gethostname()?.into_string().unwrap();
    /// let record = format!("{}\nhost={host}\ntime=2026-01-02T03:04:05.000Z\n", gone.id());
    /// std::fs::write(&path, record)?;
    /// assert!(LockFile::acquire(&path).is_err(), "stale, reported");
    /// let lock = LockFile::options().replace_stale(true).acquire(&path)?;
    /// # drop(lock);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn options() -> Options {
        Options::default()
    }

    /// The path this guard locked.
    pub fn path(&self) -> &Path {
        &self.held.path
    }

    /// Drop this guard; when it is the last one of this process, remove the file (if the path
    /// still names the inode we locked) and unlock, returning a failure to remove instead of
    /// logging it.
    pub fn release(self) -> Result<(), Error> {
        let Ok(held) = Arc::try_unwrap(self.held) else {
            return Ok(());
        };
        let removed = held.remove();
        let path = held.path.clone();
        // Removed (or left to its new owner): dropping now only closes, and so unlocks.
        drop(held);
        removed.map_err(|source| Error::Io {
            path,
            step: Step::Remove,
            source,
        })
    }
}

fn acquire(path: &Path, opts: &Options) -> Result<LockFile, Error> {
    if let Some(held) = HELD.get(path) {
        return Ok(LockFile { held });
    }
    for _ in 0..8 {
        let locked = match flock::acquire(path, 0o644, Wait::No) {
            Ok(l) => l,
            Err(flock::Error::Busy { file, .. }) => match held_by_another(path, &file)? {
                Some(err) => return Err(err),
                // A status probe, gone now: try again.
                None => continue,
            },
            Err(flock::Error::NotRegular { path, what }) => {
                return Err(Error::NotRegular { path, what });
            }
            Err(e) => return Err(Error::Lock(e)),
        };
        let created = locked.created();
        // Unlocked: any previous record is a crashed owner's, or another tool's.
        if !created {
            check_unlocked_record(path, locked.file(), opts)?;
        }
        let (dev, ino) = (locked.dev(), locked.ino());
        let held = Arc::new(Held {
            file: locked.into_file(),
            path: path.to_owned(),
            dev,
            ino,
            done: AtomicBool::new(false),
        });
        record::write(&held.file, created).map_err(|source| Error::Io {
            path: path.to_owned(),
            step: Step::Write,
            source,
        })?;
        HELD.insert(held.dev, held.ino, &held);
        return Ok(LockFile { held });
    }
    Err(Error::Unstable {
        path: path.to_owned(),
    })
}

/// The lock was refused: the error naming its holder, or `None` if nobody holds it any more
/// (the refusal came from a status probe).
fn held_by_another(path: &Path, file: &File) -> Result<Option<Error>, Error> {
    let bytes = record::read_all(file).map_err(|source| Error::Io {
        path: path.to_owned(),
        step: Step::Read,
        source,
    })?;
    if let Ok(owner) = record::parse(&bytes) {
        return Ok(Some(Error::Held {
            path: path.to_owned(),
            owner,
            stale: false,
        }));
    }
    if !flock::is_locked(file).unwrap_or(true) {
        return Ok(None);
    }
    // Locked while the owner writes its record: name the lock holder.
    Ok(Some(Error::Busy {
        path: path.to_owned(),
        pid: holder_of(file),
    }))
}

fn holder_of(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata().ok()?;
    flock::holders(m.dev(), m.ino()).ok()?.first().copied()
}

/// The lock was free (unlocked); decide whether a record left in it lets us take over.
fn check_unlocked_record(path: &Path, file: &File, opts: &Options) -> Result<(), Error> {
    let bytes = record::read_all(file).map_err(|source| Error::Io {
        path: path.to_owned(),
        step: Step::Read,
        source,
    })?;
    if bytes.is_empty() {
        return Ok(());
    }
    let owner = match record::parse(&bytes) {
        Ok(o) => o,
        Err(_) if opts.replace_stale => return Ok(()),
        Err(problem) => {
            return Err(Error::Malformed {
                path: path.to_owned(),
                problem,
            });
        }
    };
    let stale = record::is_stale(&owner);
    if stale && opts.replace_stale {
        return Ok(());
    }
    Err(Error::Held {
        path: path.to_owned(),
        owner,
        stale,
    })
}
