//! Every file lock on the machine, as `lslocks` lists them: the entries of `/proc/locks`, each
//! with the path of the locked file and the processes that hold it.
//!
//! `/proc/locks` names an inode (`MAJ:MIN:INO`) and the process that took the lock. Open file
//! description locks (`OFDLCK`) show PID -1 there, because they belong to a description that
//! many processes may share; their holders are the processes with a descriptor whose
//! `/proc/PID/fdinfo/FD` lists that very lock (kind, inode and range), as current `lslocks`
//! finds them. The path is found the way `lslocks` finds it: among the holders' (or, for a
//! blocked request, the waiter's) descriptors, the one whose `stat(2)` is that inode, read
//! with `readlink(2)` on `/proc/PID/fd/FD`. Processes we may not look into (another user's,
//! when not root) leave the path or the holders unknown; nothing here takes or tests a lock.
//!
//! This is a snapshot for people (`pidward locks`): locks come and go while it is read.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::proc_locks::read_proc_locks;

/// One lock of `/proc/locks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemLock {
    /// `FLOCK`, `POSIX`, `OFDLCK`, `LEASE`, `DELEG`… as the kernel names the kind.
    pub kind: String,
    /// Whether the lock is mandatory (`MANDATORY`; otherwise `ADVISORY`).
    pub mandatory: bool,
    /// `READ` or `WRITE` (leases: also `UNLCK`, `BREAKING`…).
    pub mode: String,
    /// Whether this is a request waiting for the lock (`->` in `/proc/locks`), not a lock held.
    pub blocked: bool,
    /// The process `/proc/locks` names: the one that took the lock (or waits for it). `None`
    /// for open file description locks (PID -1) and for processes outside our PID namespace.
    pub pid: Option<u32>,
    /// The locked file's device (as `makedev(major, minor)`).
    pub dev: u64,
    /// The locked file's inode number.
    pub ino: u64,
    /// The first byte locked.
    pub start: u64,
    /// The last byte locked; `None` for "to the end of the file" (`EOF`).
    pub end: Option<u64>,
    /// The locked file's path, when a holder's descriptor shows it.
    pub path: Option<PathBuf>,
    /// The processes that hold it: every process with a descriptor whose open file
    /// description owns it (`/proc/PID/fdinfo/FD`), sorted; when none can be seen,
    /// [`pid`](Self::pid). A flock(2) lock taken before a `fork` is held by the child that
    /// kept the descriptor, while `pid` still names the taker, which may have exited (a
    /// daemon that double-forked). Empty for a blocked request.
    pub holders: Vec<u32>,
}

/// Every lock on the machine, in the order of `/proc/locks`.
///
/// ```
/// use std::os::unix::fs::MetadataExt;
///
/// let dir = tempfile::tempdir()?;
/// let file = std::fs::File::create(dir.path().join("job.lock"))?;
/// file.lock()?; // flock(2)
/// let ino = file.metadata()?.ino();
/// let locks = pidward::flock::system_locks()?;
/// let ours = locks.iter().find(|l| l.ino == ino && l.kind == "FLOCK").unwrap();
/// assert_eq!(ours.holders, [std::process::id()]);
/// assert!(ours.path.as_ref().unwrap().ends_with("job.lock"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn system_locks() -> io::Result<Vec<SystemLock>> {
    let (text, _) = read_proc_locks()?;
    let mut locks: Vec<SystemLock> = text.lines().filter_map(parse_line).collect();
    let wanted: Vec<(u64, u64)> = locks.iter().map(|l| (l.dev, l.ino)).collect();
    let fds = descriptors_of(&wanted);
    for lock in &mut locks {
        let key = (lock.dev, lock.ino);
        let open = fds.get(&key).map(Vec::as_slice).unwrap_or_default();
        if !lock.blocked {
            let line = proc_line(lock);
            let mut holders: Vec<u32> = open
                .iter()
                .filter(|fd| fd.locks.contains(&line))
                .map(|fd| fd.pid)
                .collect();
            holders.sort_unstable();
            holders.dedup();
            lock.holders = match (holders.is_empty(), lock.pid) {
                // Not seen through a descriptor (another user's process, when not root).
                (true, Some(pid)) => vec![pid],
                _ => holders,
            };
        }
        let by = |pid: u32| open.iter().find(|fd| fd.pid == pid);
        let seen = lock
            .holders
            .iter()
            .find_map(|&p| by(p))
            .or_else(|| lock.pid.and_then(by));
        lock.path = seen.map(|fd| fd.path.clone());
    }
    Ok(locks)
}

/// One line of `/proc/locks`: `1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`, or with `->`
/// after the number for a blocked request.
fn parse_line(line: &str) -> Option<SystemLock> {
    let mut f: Vec<&str> = line.split_whitespace().collect();
    let blocked = f.get(1) == Some(&"->");
    if blocked {
        f.remove(1);
    }
    if f.len() < 8 {
        return None;
    }
    let mut inode = f[5].split(':');
    let major = u32::from_str_radix(inode.next()?, 16).ok()?;
    let minor = u32::from_str_radix(inode.next()?, 16).ok()?;
    let ino = inode.next()?.parse().ok()?;
    let pid = f[4].parse::<i64>().ok()?;
    Some(SystemLock {
        kind: f[1].to_owned(),
        mandatory: f[2] == "MANDATORY",
        mode: f[3].to_owned(),
        blocked,
        pid: u32::try_from(pid).ok().filter(|&p| p > 0),
        dev: libc::makedev(major, minor),
        ino,
        start: f[6].parse().ok()?,
        end: match f[7] {
            "EOF" => None,
            n => Some(n.parse().ok()?),
        },
        path: None,
        holders: Vec::new(),
    })
}

/// What an `fdinfo` `lock:` line says of this lock, from the kind on and without the PID
/// (the taker's, which a descendant may hold): `OFDLCK ADVISORY WRITE 08:01:5678 0 EOF`.
fn proc_line(lock: &SystemLock) -> String {
    format!(
        "{} {} {} {:02x}:{:02x}:{} {} {}",
        lock.kind,
        if lock.mandatory {
            "MANDATORY"
        } else {
            "ADVISORY"
        },
        lock.mode,
        libc::major(lock.dev as libc::dev_t),
        libc::minor(lock.dev as libc::dev_t),
        lock.ino,
        lock.start,
        lock.end.map_or("EOF".to_owned(), |e| e.to_string())
    )
}

/// A descriptor open on one of the locked inodes.
struct OpenFd {
    pid: u32,
    path: PathBuf,
    /// The locks its open file description owns, as [`proc_line`] writes them.
    locks: Vec<String>,
}

/// Every descriptor, of every process we may look into, open on one of `wanted`.
fn descriptors_of(wanted: &[(u64, u64)]) -> HashMap<(u64, u64), Vec<OpenFd>> {
    let mut found: HashMap<(u64, u64), Vec<OpenFd>> = HashMap::new();
    if wanted.is_empty() {
        return found;
    }
    let Ok(procs) = fs::read_dir("/proc") else {
        return found;
    };
    for proc_entry in procs.flatten() {
        let Some(pid) = proc_entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            // stat(2) follows the magic link to the open file itself.
            let Ok(meta) = fs::metadata(fd.path()) else {
                continue;
            };
            let key = (meta.dev(), meta.ino());
            if !wanted.contains(&key) {
                continue;
            }
            let Ok(path) = fs::read_link(fd.path()) else {
                continue;
            };
            let info = proc_entry.path().join("fdinfo").join(fd.file_name());
            // `lock:\t1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`, less the number and PID.
            let locks = fs::read_to_string(info)
                .map(|text| {
                    text.lines()
                        .filter_map(|l| l.strip_prefix("lock:"))
                        .filter_map(|l| l.split_once(':').map(|(_, rest)| rest))
                        .map(|rest| {
                            let mut f: Vec<&str> = rest.split_whitespace().collect();
                            if f.len() > 3 {
                                f.remove(3);
                            }
                            f.join(" ")
                        })
                        .collect()
                })
                .unwrap_or_default();
            found
                .entry(key)
                .or_default()
                .push(OpenFd { pid, path, locks });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_proc_locks() {
        let l = parse_line("1: FLOCK  ADVISORY  WRITE 1234 fe:01:5678 0 EOF").unwrap();
        assert_eq!((l.kind.as_str(), l.mode.as_str()), ("FLOCK", "WRITE"));
        assert_eq!((l.pid, l.ino, l.start, l.end), (Some(1234), 5678, 0, None));
        assert_eq!(l.dev, libc::makedev(0xfe, 1));
        assert!(!l.blocked && !l.mandatory);
        let l = parse_line("2: -> POSIX  ADVISORY  READ 99 08:02:7 10 19").unwrap();
        assert!(l.blocked);
        assert_eq!((l.pid, l.start, l.end), (Some(99), 10, Some(19)));
        let l = parse_line("3: OFDLCK ADVISORY  WRITE -1 00:2d:42 0 EOF").unwrap();
        assert_eq!(l.pid, None);
        assert_eq!(proc_line(&l), "OFDLCK ADVISORY WRITE 00:2d:42 0 EOF");
        assert!(parse_line("garbage").is_none());
    }
}
