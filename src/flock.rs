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
//! answers "by whom?" from `/proc/locks`, for messages.

use std::fs::{self, File};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};

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
    /// The open, locked file.
    pub file: File,
    /// `st_dev` of the locked inode.
    pub dev: u64,
    /// `st_ino` of the locked inode.
    pub ino: u64,
    /// Whether this acquisition created the file.
    pub created: bool,
}

/// Why [`acquire`] did not lock.
#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
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
        /// The step: "open", "lock", "create directory"...
        step: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

impl AcquireError {
    fn io(path: &Path, step: &'static str, source: io::Error) -> AcquireError {
        AcquireError::Io {
            path: path.to_owned(),
            step,
            source,
        }
    }
}

/// Open (creating with `mode` if missing), lock exclusively, and verify; see the module docs.
///
/// `mode` is applied exactly with `fchmod(2)` when this call creates the file, so the umask
/// does not change it (0 included).
///
/// ```
/// use pidward::flock::{acquire, AcquireError, Wait};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("x.lock");
/// let held = acquire(&path, 0o644, Wait::No)?;
/// assert!(held.created);
/// assert!(matches!(acquire(&path, 0o644, Wait::No), Err(AcquireError::Busy { .. })));
/// drop(held);
/// assert!(acquire(&path, 0o644, Wait::No).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn acquire(path: &Path, mode: u32, wait: Wait) -> Result<Locked, AcquireError> {
    let deadline = match wait {
        Wait::Timeout(t) => Instant::now().checked_add(t),
        _ => None,
    };
    loop {
        let (file, meta, created) = open_regular(path, mode)?;
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
            return Err(AcquireError::Busy {
                path: path.to_owned(),
                file,
            });
        }
        if created && meta.mode() & 0o7777 != mode {
            // Exactly the mode asked for, whatever the umask.
            rustix::fs::fchmod(&file, rustix::fs::Mode::from_raw_mode(mode))
                .map_err(|e| AcquireError::io(path, "set the mode of", e.into()))?;
        }
        return Ok(Locked {
            dev: meta.dev(),
            ino: meta.ino(),
            file,
            created,
        });
    }
}

/// Open `path` read-write without following a final symbolic link and without blocking,
/// create it if missing, and check that it is a regular file.
///
/// `O_NONBLOCK` stays set: on Linux it has no effect on the I/O of a regular file (only on
/// opening FIFOs and devices, which are refused, and on lease breaks), so clearing it would
/// cost two `fcntl(2)` calls for nothing.
fn open_regular(path: &Path, mode: u32) -> Result<(File, fs::Metadata, bool), AcquireError> {
    let open = |create_new: bool| {
        let mut o = fs::OpenOptions::new();
        o.read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
            .mode(mode);
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
            .map_err(|e| AcquireError::io(path, "stat", e))?;
        if !meta.is_file() {
            return Err(AcquireError::NotRegular {
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

fn classify_open_error(path: &Path, e: io::Error) -> AcquireError {
    match e.raw_os_error() {
        Some(libc::ELOOP) => AcquireError::NotRegular {
            path: path.to_owned(),
            what: "a symbolic link",
        },
        Some(libc::EISDIR) => AcquireError::NotRegular {
            path: path.to_owned(),
            what: "a directory",
        },
        Some(libc::ENXIO) => AcquireError::NotRegular {
            path: path.to_owned(),
            what: "a socket or FIFO",
        },
        _ => AcquireError::io(path, "open", e),
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

/// `flock(fd, LOCK_EX|LOCK_NB)`: `Ok(true)` locked, `Ok(false)` held by another.
///
/// A refusal is retried three times over about a millisecond: a status query ([`is_locked`])
/// holds the lock for a microsecond, and must not make a starting service think it is already
/// running. A real holder costs a conflict report that millisecond.
fn try_lock(file: &File, path: &Path) -> Result<bool, AcquireError> {
    for pause in [20, 200, 800, 0] {
        match flock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(true),
            Err(rustix::io::Errno::WOULDBLOCK) if pause > 0 => {
                std::thread::sleep(Duration::from_micros(pause))
            }
            Err(rustix::io::Errno::WOULDBLOCK) => return Ok(false),
            Err(e) => return Err(AcquireError::io(path, "lock", e.into())),
        }
    }
    Ok(false)
}

/// `flock(fd, LOCK_EX)`, bounded by `deadline` when there is one. Returns `Ok(false)` on
/// timeout.
fn lock_blocking(
    file: &File,
    path: &Path,
    deadline: Option<Instant>,
) -> Result<bool, AcquireError> {
    lock_until(file.as_fd(), Mode::Exclusive, deadline)
        .map_err(|e| AcquireError::io(path, "lock", e))
}

/// Lock kind for [`lock_until`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `LOCK_SH`
    Shared,
    /// `LOCK_EX`
    Exclusive,
}

/// `flock(2)` on any descriptor, waiting until `deadline` (`None`: forever). `Ok(false)` means
/// the deadline passed first. Waiting uses short non-blocking retries with backoff, capped at
/// 10 ms, so that a deadline is honoured without signals or threads.
pub fn lock_until(
    fd: std::os::fd::BorrowedFd<'_>,
    mode: Mode,
    deadline: Option<Instant>,
) -> io::Result<bool> {
    let (nb, blocking) = match mode {
        Mode::Shared => (
            FlockOperation::NonBlockingLockShared,
            FlockOperation::LockShared,
        ),
        Mode::Exclusive => (
            FlockOperation::NonBlockingLockExclusive,
            FlockOperation::LockExclusive,
        ),
    };
    let Some(deadline) = deadline else {
        loop {
            match flock(fd, blocking) {
                Ok(()) => return Ok(true),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    };
    let mut pause = Duration::from_micros(50);
    loop {
        match flock(fd, nb) {
            Ok(()) => return Ok(true),
            Err(rustix::io::Errno::WOULDBLOCK) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// The PIDs holding flock(2) locks on inode `(dev, ino)`, from `/proc/locks`.
///
/// Reading `/proc/locks` does not take or test the lock, so it cannot disturb a concurrent
/// acquirer. The PID shown is the process that took the lock; a lock it passed on by `fork`
/// lives on in its children. PIDs of processes outside our PID namespace show as 0 and are
/// left out, but the lock still counts: see [`is_locked`].
pub fn holders(dev: u64, ino: u64) -> io::Result<Vec<u32>> {
    Ok(flock_entries(dev, ino)?
        .into_iter()
        .filter(|&p| p != 0)
        .collect())
}

/// Whether anyone holds a flock(2) lock on the file `file` is open on: `flock(LOCK_EX|LOCK_NB)`
/// on our own open file description, released at once with `LOCK_UN` if it was granted.
///
/// This is exact and costs two system calls. Its one side effect is that for the microsecond
/// the probe holds the lock, another process's non-blocking attempt would fail; [`acquire`]
/// retries such a failure a few times over about a millisecond, so no pidward acquirer ever
/// mistakes a prober for a holder. (Reading `/proc/locks` instead would disturb nobody's
/// attempt, but it write-locks the kernel's global file-lock semaphore, which stalls every
/// flock(2) on the machine for an RCU grace period, about 10 ms, and a seq_file can skip
/// entries: see [`holders`], which is for naming a holder, not for deciding.)
pub fn is_locked(file: &File) -> io::Result<bool> {
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {
            flock(file, FlockOperation::Unlock)?;
            Ok(false)
        }
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(true),
        // Some network file systems refuse an exclusive lock on a read-only descriptor.
        Err(rustix::io::Errno::BADF) => {
            use std::os::unix::fs::MetadataExt as _;
            let m = file.metadata()?;
            Ok(!flock_entries(m.dev(), m.ino())?.is_empty())
        }
        Err(e) => Err(e.into()),
    }
}

fn flock_entries(dev: u64, ino: u64) -> io::Result<Vec<u32>> {
    let want = format!(
        "{:02x}:{:02x}:{ino}",
        libc::major(dev as libc::dev_t),
        libc::minor(dev as libc::dev_t)
    );
    // /proc/locks is a seq_file: one read(2) is a consistent snapshot of up to a page, but
    // between two reads, locks released earlier in the list shift the rest, and an entry can
    // be skipped. So read it with as few read(2) calls as possible, and when it took more than
    // one, scan again: a lock held throughout is missed only if every scan misses it.
    let mut pids = Vec::new();
    for _ in 0..3 {
        let (text, reads) = read_proc_locks()?;
        for line in text.lines() {
            // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; blocked waiters have "->".
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 6 && f[1] == "FLOCK" && f[5] == want {
                let pid = f[4].parse().unwrap_or(0);
                if !pids.contains(&pid) {
                    pids.push(pid);
                }
            }
        }
        if reads <= 1 || !pids.is_empty() {
            break;
        }
    }
    Ok(pids)
}

/// `/proc/locks` read with one large buffer, and how many non-empty `read(2)` calls it took.
fn read_proc_locks() -> io::Result<(String, usize)> {
    use std::io::Read;
    let mut file = File::open("/proc/locks")?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0;
    let mut reads = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                reads += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok((String::from_utf8_lossy(&buf).into_owned(), reads))
}

/// The locks this process holds, by inode, so that a second acquisition by the owner can
/// share the first one's lock instead of failing against itself (flock(2) locks belong to open
/// file descriptions: a second `open` in the same process conflicts with the first).
pub(crate) struct Registry<T>(std::sync::Mutex<Vec<Entry<T>>>);

/// An inode `(dev, ino)` and the guard holding it.
type Entry<T> = ((u64, u64), std::sync::Weak<T>);

impl<T> Registry<T> {
    pub(crate) const fn new() -> Registry<T> {
        Registry(std::sync::Mutex::new(Vec::new()))
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Entry<T>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remember that we hold inode `(dev, ino)` through `held`.
    pub(crate) fn insert(&self, dev: u64, ino: u64, held: &std::sync::Arc<T>) {
        let mut e = self.entries();
        e.retain(|(_, w)| w.strong_count() > 0);
        e.push(((dev, ino), std::sync::Arc::downgrade(held)));
    }

    /// What we hold on the inode `path` names now, if anything.
    pub(crate) fn get(&self, path: &Path) -> Option<std::sync::Arc<T>> {
        let m = fs::symlink_metadata(path).ok()?;
        let key = (m.dev(), m.ino());
        self.entries()
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, w)| w.upgrade())
    }
}
