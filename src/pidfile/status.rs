//! Is the owner of a PID file running? The lock decides for pidward's own files; for foreign
//! files (never locked) [`crate::liveness`] does: EPERM is alive, a zombie is dead, and a
//! process that started after the file was written holds a reused PID.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::time::SystemTime;

use super::read::{open_for_reading, read_settled_locked};
use super::{Error, Invalid, Step, parse_here};
use crate::flock;
use crate::liveness::{self, Probe};

/// What [`status`] found.
#[derive(Debug)]
pub enum Status {
    /// A live process holds the file: locked by its owner, or (for a foreign, unlocked file)
    /// the PID is alive and older than the file.
    Running {
        /// The PID in the file.
        pid: u32,
        /// Whether the file is locked (pidward's own files are).
        locked: bool,
    },
    /// Locked, but the owner has not written its PID yet.
    Starting,
    /// The file names a process that is not running any more.
    Stale {
        /// The PID in the file.
        pid: u32,
        /// Why it is stale.
        why: Stale,
    },
    /// The file is not locked and names no process: it is empty, or holds a number above
    /// `pid_max`. Stale, like [`Status::Stale`] (LSB 1, state `stale`), without a PID.
    Vacant(Invalid),
    /// No file at the path.
    Absent,
    /// The file holds no valid PID (or is not a regular file).
    Invalid(Invalid),
    /// The file could not be read, so nothing can be said.
    Unknown {
        /// The step that failed.
        step: Step,
        /// The OS error.
        source: io::Error,
    },
}

/// Why a PID file is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// No process has that PID.
    Dead,
    /// The process has exited and waits to be reaped.
    Zombie,
    /// A process has that PID, but it started after the file was written: the PID was reused.
    Reused,
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stale::Dead => "no process has this PID",
            Stale::Zombie => "the process has exited (zombie)",
            Stale::Reused => "the PID now belongs to a process started after the file was written",
        })
    }
}

impl Status {
    /// The state's name: `running`, `starting`, `stale`, `absent`, `invalid`, `unknown`.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Running { .. } => "running",
            Status::Starting => "starting",
            Status::Stale { .. } | Status::Vacant(_) => "stale",
            Status::Absent => "absent",
            Status::Invalid(_) => "invalid",
            Status::Unknown { .. } => "unknown",
        }
    }

    /// The PID the file names, when it names one.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Status::Running { pid, .. } | Status::Stale { pid, .. } => Some(*pid),
            _ => None,
        }
    }

    /// Whether the program is running (or starting): it holds the file.
    pub fn is_running(&self) -> bool {
        matches!(self, Status::Running { .. } | Status::Starting)
    }

    /// The LSB `status` exit code: 0 running, 1 dead but PID file exists, 3 not running,
    /// 4 unknown.
    pub fn lsb_code(&self) -> u8 {
        match self {
            Status::Running { .. } | Status::Starting => 0,
            Status::Stale { .. } | Status::Vacant(_) => 1,
            Status::Absent => 3,
            Status::Invalid(_) | Status::Unknown { .. } => 4,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Running { pid, locked: true } => write!(f, "running as PID {pid}"),
            Status::Running { pid, locked: false } => {
                write!(f, "running as PID {pid} (file not locked)")
            }
            Status::Starting => f.write_str("starting (locked, no PID written yet)"),
            Status::Stale { pid, why } => write!(f, "not running: stale PID {pid} ({why})"),
            Status::Vacant(why) => write!(f, "not running: stale PID file ({why})"),
            Status::Absent => f.write_str("not running (no PID file)"),
            Status::Invalid(why) => write!(f, "invalid PID file: {why}"),
            Status::Unknown { step, source } => write!(f, "unknown: cannot {step} it: {source}"),
        }
    }
}

/// Everything [`status`] looked at, for callers that act on the answer (`stop`).
#[derive(Debug)]
pub(crate) struct Inspection {
    pub status: Status,
    /// The file's metadata, when it could be opened.
    pub meta: Option<fs::Metadata>,
}

/// Whether the program that owns a PID file is running. Works on pidward's files (the lock
/// decides) and on foreign ones (liveness rules of [`crate::liveness`]).
///
/// ```
/// use pidward::pidfile::{status, Stale, Status};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("nginx.pid");
/// assert_eq!(status(&path).lsb_code(), 3);
/// std::fs::write(&path, format!("{}\n", std::process::id()))?;
/// // Not locked, but the PID is alive and older than the file: a foreign PID file.
/// assert!(matches!(status(&path), Status::Running { locked: false, .. }));
/// let mut gone = std::process::Command::new("true").spawn()?;
/// gone.wait()?;
/// std::fs::write(&path, format!("{}\n", gone.id()))?;
/// assert!(matches!(status(&path), Status::Stale { why: Stale::Dead, .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn status(path: impl AsRef<Path>) -> Status {
    inspect(path.as_ref()).status
}

pub(crate) fn inspect(path: &Path) -> Inspection {
    let (file, meta) = match open_for_reading(path) {
        Ok(x) => x,
        Err(Error::NotFound { .. }) => {
            return Inspection {
                status: Status::Absent,
                meta: None,
            };
        }
        Err(Error::NotRegular { what, .. }) => {
            return Inspection {
                status: Status::Invalid(Invalid::NotRegular(what)),
                meta: fs::symlink_metadata(path).ok(),
            };
        }
        Err(Error::Io { step, source, .. }) => {
            return Inspection {
                status: Status::Unknown { step, source },
                meta: None,
            };
        }
        Err(other) => {
            // open_for_reading returns no other error; say so rather than guess.
            return Inspection {
                status: Status::Unknown {
                    step: Step::Open,
                    source: io::Error::other(other),
                },
                meta: None,
            };
        }
    };
    let status = judge(&file, &meta);
    Inspection {
        status,
        meta: Some(meta),
    }
}

fn judge(file: &File, meta: &fs::Metadata) -> Status {
    let locked = match flock::is_locked(file) {
        Ok(l) => l,
        Err(source) => {
            let step = Step::TestLock;
            return Status::Unknown { step, source };
        }
    };
    let bytes = match read_settled_locked(file, locked) {
        Ok(b) => b,
        Err(source) => {
            let step = Step::Read;
            return Status::Unknown { step, source };
        }
    };
    if bytes.is_empty() && locked {
        return Status::Starting;
    }
    let pid = match parse_here(&bytes) {
        Ok(pid) => pid,
        // Unlocked and naming no process: nothing runs (a locked file is its holder's).
        Err(why) if !locked && why.names_no_process() => return Status::Vacant(why),
        Err(why) => return Status::Invalid(why),
    };
    if locked {
        // The lock is the liveness signal: locked means alive, whatever the PID says.
        return Status::Running { pid, locked };
    }
    judge_unlocked(pid, meta)
}

/// A foreign file, or one whose owner died: decide from the process table.
pub(super) fn judge_unlocked(pid: u32, meta: &fs::Metadata) -> Status {
    let locked = false;
    let (probe, started) = liveness::probe_started(pid);
    match probe {
        Probe::Dead => Status::Stale {
            pid,
            why: Stale::Dead,
        },
        Probe::Zombie => Status::Stale {
            pid,
            why: Stale::Zombie,
        },
        Probe::Alive | Probe::AliveNotPermitted => {
            let written = file_written(meta);
            match started {
                Ok(since) if liveness::started_after(since, written) => Status::Stale {
                    pid,
                    why: Stale::Reused,
                },
                Ok(_) => Status::Running { pid, locked },
                // Gone between the probe and now.
                Err(e)
                    if e.kind() == io::ErrorKind::NotFound
                        && liveness::probe(pid) == Probe::Dead =>
                {
                    Status::Stale {
                        pid,
                        why: Stale::Dead,
                    }
                }
                // Alive, but /proc cannot say since when (not mounted, hidepid): a reused PID
                // cannot be ruled out, so nothing can be said.
                Err(e) => Status::Unknown {
                    step: Step::InspectProcess,
                    source: io::Error::new(e.kind(), format!("/proc/{pid}: {e}")),
                },
            }
        }
    }
}

/// When the file's content was last written: its mtime (ctime would move on chmod/chown).
fn file_written(meta: &fs::Metadata) -> SystemTime {
    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)
}
