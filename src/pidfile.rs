//! `PidFile`: an exclusive, kernel-locked PID file.
//!
//! A PID file answers "is this program already running?". The classic answer (write your PID,
//! and let others check whether that PID is alive) fails in three ways: the PID may have been
//! reused by an unrelated process, a process of another user answers `kill(pid, 0)` with EPERM,
//! and two starters can both find "no process" and both start. pidward's answer is the lock:
//!
//! * [`PidFile::acquire`] opens the file without truncating it, takes an exclusive flock(2),
//!   checks that the path still names the inode it locked ([`crate::flock`]), and only then
//!   writes `PID\n`. The lock lives as long as the guard (and any process that inherits its
//!   descriptor), and the kernel drops it when the holder dies, however it dies.
//! * A second acquirer fails with [`Error::AlreadyRunning`] naming the holder's PID, and never
//!   truncates, rewrites or unlinks the holder's file.
//! * Readers never see a partial PID. Bytes overwritten in place become visible to a
//!   concurrent `read(2)` one by one (a reader can catch `"32"` of `"32000"` written over
//!   `"7\n"`), but a file that *grows from empty* shows its new length only after the bytes
//!   are in place. So the PID is only ever written into an empty file: a new file is written
//!   with one `pwrite(2)` and no truncation at all (the common, fast path); a stale file taken
//!   over, or a PID rewritten, is first truncated to zero under the lock. Readers that find a
//!   locked, empty file wait briefly for the owner to finish writing (state "starting").
//! * Dropping the guard unlinks the file only if the path still names the inode we locked.
//!
//! [`read`] and [`status`] work on any PID file, pidward's or a foreign one (nginx-style, never
//! locked): for those, [`crate::liveness`] decides, with EPERM read as alive, zombies as dead
//! and a process younger than the file as a reused PID.
//!
//! ```
//! use pidward::pidfile::{self, PidFile, Status};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.pid");
//! let guard = PidFile::acquire(&path)?;
//! assert_eq!(pidfile::read(&path)?, std::process::id());
//! assert!(matches!(pidfile::status(&path), Status::Running { locked: true, .. }));
//! assert!(matches!(
//!     PidFile::acquire(&path),
//!     Err(pidfile::Error::AlreadyRunning { pid: Some(p), .. }) if p == std::process::id()
//! ));
//! drop(guard);
//! assert!(matches!(pidfile::status(&path), Status::Absent));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::flock::{self, Wait};
use crate::liveness;
use crate::sys;

mod cleanup;
mod parse;
mod read;
mod status;

pub use parse::{Invalid, parse};
pub use read::{ReadError, read};
pub(crate) use read::{open_for_reading, read_prefix, read_start};
pub(crate) use status::inspect;
pub use status::{Stale, Status, status};

use read::{MAX_FIRST_LINE, read_first_line, read_settled_locked};
use status::judge_unlocked;

/// Why a PID file could not be acquired.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process holds the lock. `pid` is what it wrote, or `None` when it holds the lock
    /// but has not written its PID yet (it is starting).
    #[error("{}: already running{}", path.display(), match pid {
        Some(p) => format!(" as PID {p}"),
        None => " (the holder is starting and has not written its PID yet)".to_owned(),
    })]
    AlreadyRunning {
        /// The PID file.
        path: PathBuf,
        /// The holder's PID.
        pid: Option<u32>,
    },
    /// The path names a directory, FIFO, socket, device or symbolic link. It is left alone.
    #[error("{}: is {what}, not a regular file; leaving it alone", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is, e.g. "a directory".
        what: &'static str,
    },
    /// The file is not locked, but holds something other than a PID (or is larger than any
    /// PID file): it may be a file given by mistake, so it is left exactly as it was.
    #[error("{}: not a PID file ({reason}); refusing to overwrite it", path.display())]
    NotAPidFile {
        /// The path.
        path: PathBuf,
        /// What is wrong with its content.
        reason: Invalid,
    },
    /// An I/O error, with the step that failed.
    #[error("{}: cannot {step}: {source}", path.display())]
    Io {
        /// The path involved (the PID file or one of its parents).
        path: PathBuf,
        /// What was being done: "open", "lock", "write", "create directory"...
        step: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    fn io(path: &Path, step: &'static str, source: io::Error) -> Error {
        Error::Io {
            path: path.to_owned(),
            step,
            source,
        }
    }
}

/// Options for acquiring a PID file; start from [`PidFile::options`].
#[derive(Debug, Clone)]
pub struct Options {
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
    create_dirs: bool,
    reentrant: bool,
    defer_write: bool,
    wait: Wait,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            mode: 0o644,
            uid: None,
            gid: None,
            create_dirs: false,
            reentrant: false,
            defer_write: false,
            wait: Wait::No,
        }
    }
}

impl Options {
    /// The file's permission bits, applied exactly (the umask does not apply; 0 is honoured).
    /// Default 0644.
    pub fn mode(mut self, mode: u32) -> Options {
        self.mode = mode & 0o7777;
        self
    }

    /// Give the file to this owner and/or group (`fchown(2)`) once it is locked.
    pub fn owner(mut self, uid: Option<u32>, gid: Option<u32>) -> Options {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Create missing parent directories (mode 0755). Default: no.
    pub fn create_dirs(mut self, yes: bool) -> Options {
        self.create_dirs = yes;
        self
    }

    /// Let a process that already holds this PID file acquire it again: the guards share one
    /// lock, and the file is removed when the last of them is dropped. Default: no (a second
    /// acquisition in the same process is "already running").
    pub fn reentrant(mut self, yes: bool) -> Options {
        self.reentrant = yes;
        self
    }

    /// Lock the file but write no PID until [`PidFile::write_pid`]: readers see the state
    /// [`Status::Starting`] meanwhile. For launchers whose PID is not the one to record (a
    /// daemon records its final, detached PID).
    pub fn defer_write(mut self, yes: bool) -> Options {
        self.defer_write = yes;
        self
    }

    /// Wait for the lock instead of failing at once. Default: [`Wait::No`].
    pub fn wait(mut self, wait: Wait) -> Options {
        self.wait = wait;
        self
    }

    /// Acquire the PID file at `path` with these options.
    pub fn acquire(&self, path: impl AsRef<Path>) -> Result<PidFile, Error> {
        PidFile::acquire_with(path.as_ref(), self)
    }
}

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

    fn acquire_with(path: &Path, opts: &Options) -> Result<PidFile, Error> {
        if opts.reentrant
            && let Some(held) = Self::held_by_us(path)
        {
            return Ok(held);
        }
        if opts.create_dirs {
            create_parents(path)?;
        }
        let locked = match flock::acquire(path, opts.mode, opts.wait) {
            Ok(l) => l,
            Err(flock::Error::Busy { path, file }) => {
                let pid = holder_pid(&file);
                return Err(Error::AlreadyRunning { path, pid });
            }
            Err(flock::Error::NotRegular { path, what }) => {
                return Err(Error::NotRegular { path, what });
            }
            Err(flock::Error::Io { path, step, source }) => {
                return Err(Error::Io {
                    path,
                    step: step.as_str(),
                    source,
                });
            }
        };
        if !locked.created() {
            check_overwritable(path, locked.file())?;
            // Empty it under the lock: the stale PID must not be read as ours, and the new
            // one must be written into an empty file (see the module docs).
            locked
                .file()
                .set_len(0)
                .map_err(|e| Error::io(path, "truncate", e))?;
        }
        if opts.uid.is_some() || opts.gid.is_some() {
            let uid = opts.uid.map(rustix::fs::Uid::from_raw);
            let gid = opts.gid.map(rustix::fs::Gid::from_raw);
            rustix::fs::fchown(locked.file(), uid, gid)
                .map_err(|e| Error::io(path, "change the owner of", e.into()))?;
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
            pidfile
                .write_pid(std::process::id())
                .map_err(|e| Error::io(path, "write", e))?;
        }
        HELD.insert(pidfile.inner.dev, pidfile.inner.ino, &pidfile.inner);
        Ok(pidfile)
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
    /// never part of one.
    pub fn write_pid(&mut self, pid: u32) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        // "PID\n" without allocating: at most 10 digits and the newline.
        let digits = sys::decimal::Decimal::new(pid.into());
        let mut buf = [b'\n'; 11];
        let len = digits.as_bytes().len();
        buf[..len].copy_from_slice(digits.as_bytes());
        let text = &buf[..=len];
        let mut written = self.inner.pid.lock().unwrap_or_else(|e| e.into_inner());
        if written.is_some() {
            self.inner.file.set_len(0)?;
        }
        self.inner.file.write_all_at(text, 0)?;
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
    pub fn release(self) -> io::Result<()> {
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner.remove(),
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

    /// Remove the PID file when this process is killed by SIGTERM, SIGINT or SIGHUP, then die
    /// of that same signal. A handler is installed only for those signals whose disposition is
    /// still the default, so a program's own handlers are never replaced. Returns the signals
    /// for which a handler was installed.
    ///
    /// The handler makes only async-signal-safe calls (`lstat`, `unlink`, `sigaction`,
    /// `raise`) on data prepared here.
    pub fn remove_on_signal(&self) -> io::Result<Vec<crate::Signal>> {
        cleanup::install(&self.inner.path, self.inner.dev, self.inner.ino)
    }
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

/// An existing, unlocked file may be taken over if it is empty or names a PID that is not
/// running (a crashed owner's); a live PID older than the file means a program that does not
/// lock is running, and is reported as [`Error::AlreadyRunning`]; anything else might be a file given by mistake (`-p /etc/passwd`) and is refused.
fn check_overwritable(path: &Path, file: &File) -> Result<(), Error> {
    let len = file
        .metadata()
        .map_err(|e| Error::io(path, "stat", e))?
        .len();
    let bytes = read_first_line(file).map_err(|e| Error::io(path, "read", e))?;
    let reason = match parse(&bytes, liveness::pid_max()) {
        Ok(pid) if len <= MAX_PIDFILE_SIZE => {
            // Unlocked, so no pidward process holds it; but a program that writes PID files
            // without locking may still be running under that PID. Our own PID is ours.
            let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
            if pid != std::process::id()
                && let Status::Running { .. } = judge_unlocked(pid, &meta)
            {
                return Err(Error::AlreadyRunning {
                    path: path.to_owned(),
                    pid: Some(pid),
                });
            }
            return Ok(());
        }
        Err(Invalid::Empty) if len <= MAX_PIDFILE_SIZE => return Ok(()),
        Ok(_) | Err(Invalid::Empty) => Invalid::TooLarge(len),
        Err(other) => other,
    };
    Err(Error::NotAPidFile {
        path: path.to_owned(),
        reason,
    })
}

/// The largest file taken for a PID file: a PID and a little more (lock files add a couple of
/// lines).
const MAX_PIDFILE_SIZE: u64 = 4096;

/// Create the missing parents of `path`, naming the one that fails.
fn create_parents(path: &Path) -> Result<(), Error> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    if parent.is_dir() {
        return Ok(());
    }
    // Walk down from the first existing ancestor so the error names the exact component.
    let mut missing = Vec::new();
    let mut cur = parent;
    loop {
        match fs::symlink_metadata(cur) {
            Ok(m) if m.is_dir() => break,
            Ok(m) if m.file_type().is_symlink() && cur.is_dir() => break,
            Ok(m) => {
                return Err(Error::io(
                    cur,
                    "create directories under",
                    io::Error::new(
                        io::ErrorKind::NotADirectory,
                        format!("it is {}", flock::describe(m.file_type())),
                    ),
                ));
            }
            Err(_) => missing.push(cur),
        }
        match cur.parent() {
            Some(p) if !p.as_os_str().is_empty() => cur = p,
            _ => break,
        }
    }
    for dir in missing.into_iter().rev() {
        match fs::DirBuilder::new().mode(0o755).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(Error::io(dir, "create directory", e)),
        }
    }
    Ok(())
}

/// The PID a holder wrote, read through our (unlocked) descriptor on its file. Waits briefly
/// if the file is still empty; `None` if it stays empty.
fn holder_pid(file: &File) -> Option<u32> {
    let bytes = read_settled_locked(file, true).ok()?;
    if bytes.is_empty() {
        return None;
    }
    parse(&bytes, liveness::pid_max()).ok().or_else(|| {
        // Garbage under a live lock: name the lock holder instead.
        let meta = file.metadata().ok()?;
        flock::holders(meta.dev(), meta.ino())
            .ok()?
            .first()
            .copied()
    })
}
