//! The guard of a held PID file: the lock lives as long as it, and dropping it removes the file
//! if the path still names the inode it locked.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{Error, Options, Step, cleanup, takeover};
use crate::flock;
use crate::sys;

/// A held PID file: the lock is held and the file names this process (or the PID given to
/// [`write_pid`](PidFile::write_pid)) for as long as the guard lives.
///
/// Dropping it removes the file if the path still names the inode it locked, then unlocks.
pub struct PidFile {
    inner: Arc<Inner>,
}

struct Inner {
    file: File,
    path: PathBuf,
    dev: u64,
    ino: u64,
    pid: Mutex<Option<u32>>,
    /// Set once the file has been removed or handed off, so that cleanup happens once.
    done: std::sync::atomic::AtomicBool,
}

/// Locks this process holds, for [`Options::reentrant`].
static HELD: flock::Registry<Inner> = flock::Registry::new();

impl PidFile {
    /// Acquire `path` with the default options: mode 0644, fail at once if held.
    pub fn acquire(path: impl AsRef<Path>) -> Result<PidFile, Error> {
        Options::default().acquire(path)
    }

    /// Options for [`Options::acquire`].
    ///
    /// ```
    /// use pidward::pidfile::PidFile;
    /// use std::os::unix::fs::PermissionsExt;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("run/app/app.pid");
    /// let pf = PidFile::options().mode(0o600).create_dirs(true).acquire(&path)?;
    /// assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
    /// # drop(pf);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn options() -> Options {
        Options::default()
    }

    /// A guard this process already holds on the inode `path` names, if any.
    fn held_by_us(path: &Path) -> Option<PidFile> {
        let inner = HELD.get(path)?;
        let fresh = !inner.done.load(std::sync::atomic::Ordering::Acquire);
        fresh.then_some(PidFile { inner })
    }

    /// Record `pid` in the file: `pwrite(2)` into the empty file, after `ftruncate(2)` to zero
    /// if a PID was written before.
    ///
    /// A reader sees the complete old PID, an empty file (and waits), or the complete new PID,
    /// never part of one. A failure is [`Error::Io`] naming the step ([`Step::Truncate`] or
    /// [`Step::Write`]); `EINTR` is retried.
    pub fn write_pid(&mut self, pid: u32) -> Result<(), Error> {
        use std::os::unix::fs::FileExt;
        // "PID\n" without allocating: at most 10 digits and the newline.
        let digits = sys::decimal::Decimal::new(pid.into());
        let mut buf = [b'\n'; 11];
        let len = digits.as_bytes().len();
        buf[..len].copy_from_slice(digits.as_bytes());
        let text = &buf[..=len];
        let mut written = self.inner.pid.lock().unwrap_or_else(|e| e.into_inner());
        let path = &self.inner.path;
        if written.is_some() {
            retry(|| self.inner.file.set_len(0)).map_err(|e| Error::io(path, Step::Truncate, e))?;
        }
        // write_all_at retries EINTR and short writes itself.
        self.inner
            .file
            .write_all_at(text, 0)
            .map_err(|e| Error::io(path, Step::Write, e))?;
        *written = Some(pid);
        Ok(())
    }

    /// The PID this guard wrote (`None` before the first write with [`Options::defer_write`]).
    pub fn pid(&self) -> Option<u32> {
        *self.inner.pid.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The path this guard locked.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Remove the file (if the path still names our inode), then unlock.
    ///
    /// With reentrant guards, the file goes when the last guard goes; until then this only
    /// drops this guard. Calling it after the file was removed by someone else is harmless.
    /// A failure is [`Error::Io`] with [`Step::Remove`].
    pub fn release(self) -> Result<(), Error> {
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner
                .remove()
                .map_err(|e| Error::io(&inner.path, Step::Remove, e)),
            Err(_) => Ok(()),
        }
    }

    /// Close this guard without removing the file, for a launcher whose forked child keeps the
    /// descriptor (and so the lock) after the launcher exits.
    pub fn disown(self) {
        self.inner
            .done
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// For a launcher whose child shares this guard's lock (it inherited the descriptor):
    /// close this guard without removing anything, then remove the file only if nobody holds
    /// its lock any more, by taking the lock again on a new descriptor (open, lock, verify).
    /// "The path names the inode we locked" is not "the file is ours" while a child shares
    /// the lock: a live holder's file is never removed.
    pub(crate) fn release_unless_held(self) -> Held {
        let path = self.inner.path.clone();
        let (dev, ino) = (self.inner.dev, self.inner.ino);
        self.disown();
        if !flock::same_inode(&path, dev, ino) {
            // Gone, or replaced by someone else's file: nothing of ours is left.
            return Held::Free;
        }
        match PidFile::options().defer_write(true).acquire(&path) {
            Ok(guard) => match guard.release() {
                Ok(()) => Held::Free,
                Err(_) => Held::Unknown,
            },
            Err(Error::AlreadyRunning { pid, .. }) => Held::By(pid),
            Err(_) => Held::Unknown,
        }
    }

    /// Remove the PID file when this process is killed by SIGTERM, SIGINT or SIGHUP, then die
    /// of that same signal. A handler is installed only for those signals whose disposition is
    /// still the default, so a program's own handlers are never replaced. Returns the signals
    /// for which a handler was installed.
    ///
    /// The handler makes only async-signal-safe calls (`lstat`, `unlink`, `sigaction`,
    /// `raise`) on data prepared here. A failure is [`Error::Io`] with
    /// [`Step::InstallHandler`].
    pub fn remove_on_signal(&self) -> Result<Vec<crate::Signal>, Error> {
        cleanup::install(&self.inner.path, self.inner.dev, self.inner.ino)
            .map_err(|e| Error::io(&self.inner.path, Step::InstallHandler, e))
    }
}

/// What [`PidFile::release_unless_held`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// Nobody holds the lock: the file was removed (or was not ours any more).
    Free,
    /// A process holds the lock (the PID it wrote, if any): the file was left alone.
    By(Option<u32>),
    /// The lock could not be probed: the file was left alone.
    Unknown,
}

impl AsFd for PidFile {
    /// The locked descriptor. flock(2) locks belong to the open file description, so a child
    /// that inherits it (across `fork`, or `exec` once `FD_CLOEXEC` is cleared) holds the lock.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.file.as_fd()
    }
}

impl fmt::Debug for PidFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PidFile")
            .field("path", &self.inner.path)
            .field("pid", &self.pid())
            .finish()
    }
}

impl Inner {
    fn remove(&self) -> io::Result<()> {
        use std::sync::atomic::Ordering;
        if self.done.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        cleanup::forget(self.dev, self.ino);
        // Unlink only what is ours, while still holding the lock, so that no acquirer can
        // have locked a new file at this path in between.
        if !flock::same_inode(&self.path, self.dev, self.ino) {
            return Ok(());
        }
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove PID file");
        }
    }
}

/// `call`, again as long as it fails with `EINTR`.
fn retry<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Open, lock, verify (see [`crate::flock`]); take over a stale file; write the PID.
pub(super) fn acquire_with(path: &Path, opts: &Options) -> Result<PidFile, Error> {
    if opts.reentrant
        && let Some(held) = PidFile::held_by_us(path)
    {
        return Ok(held);
    }
    if opts.create_dirs {
        super::dirs::create_parents(path)?;
    }
    let locked = lock(path, opts)?;
    if !locked.created() {
        takeover::check_overwritable(path, locked.file())?;
        // Empty it under the lock: the stale PID must not be read as ours, and the new
        // one must be written into an empty file (see the module docs).
        locked
            .file()
            .set_len(0)
            .map_err(|e| Error::io(path, Step::Truncate, e))?;
    }
    if opts.uid.is_some() || opts.gid.is_some() {
        let uid = opts.uid.map(rustix::fs::Uid::from_raw);
        let gid = opts.gid.map(rustix::fs::Gid::from_raw);
        rustix::fs::fchown(locked.file(), uid, gid)
            .map_err(|e| Error::io(path, Step::ChangeOwner, e.into()))?;
    }
    let (dev, ino) = (locked.dev(), locked.ino());
    let inner = Arc::new(Inner {
        file: locked.into_file(),
        path: path.to_owned(),
        dev,
        ino,
        pid: Mutex::new(None),
        done: false.into(),
    });
    let mut pidfile = PidFile { inner };
    if !opts.defer_write {
        pidfile.write_pid(std::process::id())?;
    }
    HELD.insert(pidfile.inner.dev, pidfile.inner.ino, &pidfile.inner);
    Ok(pidfile)
}

/// [`flock::acquire`], with a refusal confirmed before it is reported as "already running".
///
/// A status query holds the lock for the instant of its probe, and on a loaded machine that
/// instant can outlast flock's own short retries. A real holder still holds the lock once its
/// PID has been read (which waits for a starting holder to write); a prober is long gone, so
/// the lock is tried again.
fn lock(path: &Path, opts: &Options) -> Result<flock::Locked, Error> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match flock::acquire(path, opts.mode, opts.wait) {
            Ok(l) => return Ok(l),
            Err(flock::Error::Busy { path, file }) => {
                let pid = takeover::holder_pid(&file);
                if attempts < 3 && !flock::is_locked(&file).unwrap_or(true) {
                    continue;
                }
                return Err(Error::AlreadyRunning { path, pid });
            }
            Err(flock::Error::NotRegular { path, what }) => {
                return Err(Error::NotRegular { path, what });
            }
            Err(e) => return Err(Error::Lock(e)),
        }
    }
}
