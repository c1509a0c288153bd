//! Locking any descriptor: take, wait for, drop and probe the kernel's per-open-file-
//! description locks, flock(2) or byte-range ([`Kind`]).

use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};

use super::{Kind, Mode, ofd, proc_locks};

/// `flock(2)` or `fcntl(2)` `F_OFD_SETLK(W)` on any descriptor, waiting until `deadline`
/// (`None`: forever, in one blocking call; a deadline already passed: one non-blocking try).
///
/// `Ok(false)` means another open file description holds a conflicting lock and the deadline
/// passed first. Waiting with a deadline uses short non-blocking retries with backoff, capped
/// at 10 ms, so that it is honoured without signals or threads.
///
/// ```
/// use std::time::Instant;
/// use std::os::fd::{AsFd, BorrowedFd};
/// use pidward::flock::{lock_until, Kind, Mode, Range};
///
/// let file = tempfile::tempfile()?;
/// let other = std::fs::File::options().read(true).write(true)
///     .open(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file)))?;
/// let now = Some(Instant::now());
/// assert!(lock_until(file.as_fd(), Kind::Flock, Mode::Exclusive, now)?);
/// assert!(!lock_until(other.as_fd(), Kind::Flock, Mode::Shared, now)?);
/// // Byte-range locks are independent of flock(2) locks, and of each other's ranges.
/// let bytes = |start, len| Kind::Ofd(Range::new(start, len));
/// assert!(lock_until(other.as_fd(), bytes(0, 10), Mode::Exclusive, now)?);
/// assert!(!lock_until(file.as_fd(), bytes(9, 1), Mode::Shared, now)?);
/// assert!(lock_until(file.as_fd(), bytes(10, 0), Mode::Exclusive, now)?);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn lock_until(
    fd: BorrowedFd<'_>,
    kind: Kind,
    mode: Mode,
    deadline: Option<Instant>,
) -> io::Result<bool> {
    let Some(deadline) = deadline else {
        match kind {
            Kind::Flock => flock_blocking(fd, mode)?,
            Kind::Ofd(range) => ofd::lock(fd, mode, range)?,
        }
        return Ok(true);
    };
    let mut pause = Duration::from_micros(50);
    loop {
        let locked = match kind {
            Kind::Flock => flock_nonblocking(fd, mode)?,
            Kind::Ofd(range) => ofd::try_lock(fd, mode, range)?,
        };
        if locked {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Drop this open file description's lock: `flock(fd, LOCK_UN)`, or `fcntl(2)`
/// `F_OFD_SETLK` with `F_UNLCK` over the range. Unlocking what is not locked succeeds.
pub fn unlock(fd: BorrowedFd<'_>, kind: Kind) -> io::Result<()> {
    match kind {
        Kind::Flock => Ok(flock(fd, FlockOperation::Unlock)?),
        Kind::Ofd(range) => ofd::unlock(fd, range),
    }
}

/// `flock(fd, LOCK_SH|LOCK_EX)`, retrying `EINTR`.
fn flock_blocking(fd: BorrowedFd<'_>, mode: Mode) -> io::Result<()> {
    let op = match mode {
        Mode::Shared => FlockOperation::LockShared,
        Mode::Exclusive => FlockOperation::LockExclusive,
    };
    loop {
        match flock(fd, op) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// `flock(fd, LOCK_SH|LOCK_EX | LOCK_NB)`: `Ok(false)` when another description holds it.
fn flock_nonblocking(fd: BorrowedFd<'_>, mode: Mode) -> io::Result<bool> {
    let op = match mode {
        Mode::Shared => FlockOperation::NonBlockingLockShared,
        Mode::Exclusive => FlockOperation::NonBlockingLockExclusive,
    };
    match flock(fd, op) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) | Err(rustix::io::Errno::INTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether anyone holds a flock(2) lock on the file `file` is open on: `flock(LOCK_EX|LOCK_NB)`
/// on our own open file description, released at once with `LOCK_UN` if it was granted.
///
/// This is exact and costs two system calls. Its one side effect is that for the microsecond
/// the probe holds the lock, another process's non-blocking attempt would fail; [`acquire`](super::acquire)
/// retries such a failure a few times over about a millisecond, so no pidward acquirer ever
/// mistakes a prober for a holder. (Reading `/proc/locks` instead would disturb nobody's
/// attempt, but it write-locks the kernel's global file-lock semaphore, which stalls every
/// flock(2) on the machine for an RCU grace period, about 10 ms, and a seq_file can skip
/// entries: see [`holders`](super::holders), which is for naming a holder, not for deciding.)
pub fn is_locked(file: &File) -> io::Result<bool> {
    match retry_eintr(|| flock(file, FlockOperation::NonBlockingLockExclusive)) {
        Ok(()) => {
            retry_eintr(|| flock(file, FlockOperation::Unlock))?;
            Ok(false)
        }
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(true),
        // Some network file systems refuse an exclusive lock on a read-only descriptor.
        Err(rustix::io::Errno::BADF) => {
            use std::os::unix::fs::MetadataExt as _;
            let m = file.metadata()?;
            Ok(!proc_locks::flock_entries(m.dev(), m.ino())?.is_empty())
        }
        Err(e) => Err(e.into()),
    }
}

/// `op` again for as long as it fails with `EINTR`: an interrupted probe is no answer.
pub(super) fn retry_eintr(
    mut op: impl FnMut() -> rustix::io::Result<()>,
) -> rustix::io::Result<()> {
    loop {
        match op() {
            Err(rustix::io::Errno::INTR) => continue,
            other => return other,
        }
    }
}
