//! Who holds a lock, from `/proc`: for messages, never for decisions.
//!
//! flock(2) holders come from `/proc/locks`; byte-range holders from `/proc/PID/fdinfo/FD`,
//! because `/proc/locks` shows an open file description lock with PID -1 (it belongs to a
//! description, which many processes may share), while each descriptor's `fdinfo` lists the
//! locks its description owns, as current `lslocks` reads them.
//!
//! `/proc/locks` lists every file lock on the machine, one per line:
//! `1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF` (blocked waiters are marked `->`). It
//! names the process that took each lock, which is what a person wants to read ("locked by
//! PID 1234"). It is not how pidward decides whether a lock is held: reading it write-locks
//! the kernel's global file-lock semaphore, and it is a seq_file that can skip entries between
//! two `read(2)` calls; [`is_locked`](super::is_locked) probes the lock itself instead.

use std::fs::{self, File};
use std::io;
use std::path::Path;

use super::{Mode, Range};

/// The PIDs holding flock(2) locks on inode `(dev, ino)`, from `/proc/locks`.
///
/// Reading `/proc/locks` does not take or test the lock, so it cannot disturb a concurrent
/// acquirer. The PID shown is the process that took the lock; a lock it passed on by `fork`
/// lives on in its children. PIDs of processes outside our PID namespace show as 0 and are
/// left out, but the lock still counts: see [`is_locked`](super::is_locked).
pub fn holders(dev: u64, ino: u64) -> io::Result<Vec<u32>> {
    Ok(flock_entries(dev, ino)?
        .into_iter()
        .filter(|&p| p != 0)
        .collect())
}

pub(super) fn flock_entries(dev: u64, ino: u64) -> io::Result<Vec<u32>> {
    let want = inode_key(dev, ino);
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

/// The PIDs with a descriptor whose open file description holds a byte-range lock on inode
/// `(dev, ino)` that conflicts with a `mode` lock of `range`: open file description locks
/// and POSIX record locks alike (the two kinds conflict with each other), from every
/// `/proc/PID/fdinfo/FD` we may read.
///
/// A description shared by a parent and its children shows under each of them. This reads
/// every process's descriptors: it is for the message a person reads after a conflict.
pub fn range_holders(dev: u64, ino: u64, mode: Mode, range: Range) -> io::Result<Vec<u32>> {
    let want = inode_key(dev, ino);
    let lo = range.start();
    let hi = match range.length() {
        0 => u64::MAX,
        n => lo.saturating_add(n - 1),
    };
    let mut pids = Vec::new();
    // Not std's read_dir, whose failed close aborts the process.
    for name in crate::sys::entry_names(Path::new("/proc"))? {
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let fdinfo = Path::new("/proc").join(&name).join("fdinfo");
        let Ok(fds) = crate::sys::entry_names(&fdinfo) else {
            continue;
        };
        let holds = fds.iter().any(|fd| {
            fs::read_to_string(fdinfo.join(fd)).is_ok_and(|text| {
                text.lines()
                    .filter_map(|l| l.strip_prefix("lock:"))
                    .any(|l| conflicts(l, &want, mode, lo, hi))
            })
        });
        if holds {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// Whether one `fdinfo` lock line (`1: OFDLCK ADVISORY WRITE -1 08:01:5678 0 EOF`) is a
/// range lock on inode `want` that conflicts with a `mode` lock of bytes `lo..=hi`.
fn conflicts(line: &str, want: &str, mode: Mode, lo: u64, hi: u64) -> bool {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 8 || f[5] != want || !matches!(f[1], "OFDLCK" | "POSIX") {
        return false;
    }
    if mode == Mode::Shared && f[3] != "WRITE" {
        return false;
    }
    let start = f[6].parse::<u64>();
    let end = if f[7] == "EOF" {
        Ok(u64::MAX)
    } else {
        f[7].parse::<u64>()
    };
    matches!((start, end), (Ok(start), Ok(end)) if start <= hi && lo <= end)
}

/// `MAJ:MIN:INO` as `/proc/locks` and `fdinfo` write an inode (device numbers in hex).
fn inode_key(dev: u64, ino: u64) -> String {
    format!(
        "{:02x}:{:02x}:{ino}",
        libc::major(dev as libc::dev_t),
        libc::minor(dev as libc::dev_t)
    )
}
