//! An existing file at the path: a stale one taken over, a foreign live one or garbage refused,
//! a holder named.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::read::{read_first_line, read_settled_locked};
use super::status::judge_unlocked;
use super::{Error, Invalid, Status, Step, parse_here};
use crate::flock;

/// An existing, unlocked file may be taken over if it is empty, names a PID that is not
/// running (a crashed owner's) or a number above `pid_max`; a live PID older than the file means a program that does not
/// lock is running, and is reported as [`Error::AlreadyRunning`]; anything else might be a
/// file given by mistake (`-p /etc/passwd`) and is refused.
pub(super) fn check_overwritable(path: &Path, file: &File) -> Result<(), Error> {
    let meta = file
        .metadata()
        .map_err(|e| Error::io(path, Step::Stat, e))?;
    let len = meta.len();
    let bytes = read_first_line(file).map_err(|e| Error::io(path, Step::Read, e))?;
    let reason = match parse_here(&bytes) {
        Ok(pid) if len <= MAX_PIDFILE_SIZE => {
            // Unlocked, so no pidward process holds it; but a program that writes PID files
            // without locking may still be running under that PID. Our own PID is ours.
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
        // Empty, or a number no process can have: stale.
        Err(why) if why.names_no_process() && len <= MAX_PIDFILE_SIZE => return Ok(()),
        Ok(_) | Err(Invalid::Empty) => Invalid::TooLarge(len),
        Err(other) => other,
    };
    Err(Error::Invalid {
        path: path.to_owned(),
        reason,
    })
}

/// The largest file taken for a PID file: a PID and a little more (lock files add a couple of
/// lines).
const MAX_PIDFILE_SIZE: u64 = 4096;

/// The PID a holder wrote, read through our (unlocked) descriptor on its file. Waits briefly
/// if the file is still empty; `None` if it stays empty.
pub(super) fn holder_pid(file: &File) -> Option<u32> {
    let bytes = read_settled_locked(file, true).ok()?;
    if bytes.is_empty() {
        return None;
    }
    parse_here(&bytes).ok().or_else(|| {
        // Garbage under a live lock: name the lock holder instead.
        let meta = file.metadata().ok()?;
        flock::holders(meta.dev(), meta.ino())
            .ok()?
            .first()
            .copied()
    })
}
