//! What can go wrong acquiring, reading or releasing a PID file.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::Invalid;

/// Why a PID file could not be acquired, read or removed. Each variant names the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// There is no file at the path (reading only: acquiring creates it).
    #[error("{}: no such PID file", path.display())]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// The path names a directory, FIFO, socket, device or symbolic link. It is left alone.
    #[error("{}: is {what}, not a regular file; leaving it alone", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is, e.g. "a directory".
        what: &'static str,
    },
    /// The file holds something other than a PID (or is larger than any PID file). Acquiring
    /// leaves such a file exactly as it was: it may be a file given by mistake.
    #[error("{}: not a PID file: {reason}", path.display())]
    Invalid {
        /// The path.
        path: PathBuf,
        /// What is wrong with its content.
        reason: Invalid,
    },
    /// Opening, locking or checking the file failed ([`crate::flock`] names the step).
    #[error(transparent)]
    Lock(crate::flock::Error),
    /// Another system call failed, in the named step.
    #[error("{}: cannot {step}: {source}", path.display())]
    Io {
        /// The path involved (the PID file or one of its parents).
        path: PathBuf,
        /// What was being done.
        step: Step,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(super) fn io(path: &std::path::Path, step: Step, source: io::Error) -> Error {
        Error::Io {
            path: path.to_owned(),
            step,
            source,
        }
    }
}

/// A step of acquiring, reading or removing a PID file that the OS refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// `open(2)` for reading.
    Open,
    /// `mkdir(2)` of a missing parent directory.
    CreateDirectory,
    /// A parent that should be a directory is something else.
    CreateDirectoriesUnder,
    /// `fstat(2)`.
    Stat,
    /// `pread(2)` of the content.
    Read,
    /// Probing the lock (`flock(2)`).
    TestLock,
    /// `ftruncate(2)` of a stale file taken over.
    Truncate,
    /// `fchown(2)` to the owner asked for.
    ChangeOwner,
    /// `pwrite(2)` of the PID.
    Write,
    /// `unlink(2)` on release.
    Remove,
    /// Reading `/proc/PID` of the process a foreign (unlocked) file names, to tell whether it
    /// is the file's writer or a reused PID.
    InspectProcess,
    /// `sigaction(2)`: installing the handler of [`PidFile::remove_on_signal`](super::PidFile::remove_on_signal).
    InstallHandler,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Open => "open",
            Step::CreateDirectory => "create directory",
            Step::CreateDirectoriesUnder => "create directories under",
            Step::Stat => "stat",
            Step::Read => "read",
            Step::TestLock => "test the lock of",
            Step::Truncate => "truncate",
            Step::ChangeOwner => "change the owner of",
            Step::Write => "write",
            Step::Remove => "remove",
            Step::InspectProcess => "check the process named by",
            Step::InstallHandler => "install the removal handler for",
        })
    }
}
