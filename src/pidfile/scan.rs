//! "What is running here?": the PID files under a directory such as `/run`, each with its
//! [`Status`], and the one LSB code that sums up a set of them.
//!
//! A scan looks at `DIR` and at its immediate subdirectories, because both `/run/NAME.pid`
//! and `/run/SERVICE/NAME.pid` are common, and no deeper (`/run/user/UID/…` and the like are
//! per-session trees, not services). A PID file is a regular file whose name ends in `.pid`
//! and whose content is a PID, or which its owner holds locked while it writes one (state
//! `starting`). Everything else is skipped without a word: sockets, FIFOs and symbolic links
//! (no `open` of them at all: the type comes from the directory entry), files of other names,
//! and `.pid` files that hold no PID (empty or garbage: [`Status::Invalid`]). Symbolic links
//! to subdirectories are not followed, so a scan never loops and never reports a file twice;
//! unreadable subdirectories are skipped, an unreadable `DIR` is an error. A file that holds a
//! PID but cannot be read is kept, as [`Status::Unknown`]: that one is worth knowing about.
//!
//! Each file is judged by [`status`](super::status) (the lock decides for pidward's own files,
//! the process table for foreign ones), so a scan says exactly what `pidward status FILE`
//! says of each file it lists.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{Status, status};

/// One PID file and what [`status`](super::status) found.
#[derive(Debug)]
pub struct Entry {
    /// The file, as `DIR/NAME.pid` or `DIR/SUBDIR/NAME.pid`.
    pub path: PathBuf,
    /// Its status.
    pub status: Status,
}

/// The PID files in `dir` and in its immediate subdirectories, sorted by path.
///
/// A PID file is a regular file named `*.pid` that holds a PID, or that its owner holds
/// locked while it writes one (`starting`). Other names, sockets, FIFOs, symbolic links and
/// `.pid` files that hold no PID are skipped; symbolic links to directories are not followed,
/// and subdirectories that cannot be read are skipped. A file that cannot be read is kept,
/// as [`Status::Unknown`]. Errors: `dir` itself cannot be read.
///
/// ```
/// use pidward::pidfile::{self, PidFile};
///
/// let dir = tempfile::tempdir()?;
/// std::fs::create_dir(dir.path().join("app"))?;
/// let _app = PidFile::acquire(dir.path().join("app/app.pid"))?;
/// std::fs::write(dir.path().join("utmp"), b"not a PID file")?;
/// std::fs::write(dir.path().join("garbage.pid"), b"hello\n")?;
/// let found = pidfile::scan(dir.path())?;
/// assert_eq!(found.len(), 1);
/// assert!(found[0].path.ends_with("app/app.pid"));
/// assert_eq!(pidfile::worst_lsb_code(found.iter().map(|e| e.status.lsb_code())), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn scan(dir: impl AsRef<Path>) -> io::Result<Vec<Entry>> {
    let dir = dir.as_ref();
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            // One level down; a subdirectory that cannot be read has nothing to say here.
            if let Ok(sub) = fs::read_dir(entry.path()) {
                for inner in sub.flatten() {
                    consider(&inner, &mut found);
                }
            }
        } else {
            consider(&entry, &mut found);
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// Keep `entry` if it is a PID file.
fn consider(entry: &fs::DirEntry, found: &mut Vec<Entry>) {
    let named_pid = entry
        .file_name()
        .as_encoded_bytes()
        .strip_suffix(b".pid")
        .is_some_and(|stem| !stem.is_empty());
    if !named_pid || !entry.file_type().is_ok_and(|t| t.is_file()) {
        return;
    }
    let path = entry.path();
    let status = status(&path);
    // Gone since the listing, or no PID in it (empty, garbage): not a PID file (any more).
    if matches!(
        status,
        Status::Absent | Status::Invalid(_) | Status::Vacant(_)
    ) {
        return;
    }
    found.push(Entry { path, status });
}

/// The LSB `status` code of a set of PID files, from each one's code
/// ([`Status::lsb_code`]): the worst, in the order running (0) < not running (3) < dead with
/// a PID file left behind (1) < unknown (4). An empty set is "not running" (3): nothing runs
/// there.
///
/// ```
/// use pidward::pidfile::{worst_lsb_code, Status};
///
/// let running = Status::Running { pid: 1, locked: false };
/// assert_eq!(worst_lsb_code([running.lsb_code(), Status::Absent.lsb_code()]), 3);
/// assert_eq!(worst_lsb_code([0, 0]), 0);
/// assert_eq!(worst_lsb_code([3, 1]), 1);
/// assert_eq!(worst_lsb_code([]), 3);
/// ```
pub fn worst_lsb_code(codes: impl IntoIterator<Item = u8>) -> u8 {
    let rank = |code: u8| match code {
        0 => 0,
        3 => 1,
        1 => 2,
        _ => 3,
    };
    codes.into_iter().max_by_key(|&c| rank(c)).unwrap_or(3)
}
