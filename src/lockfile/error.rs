//! What can go wrong taking, reading or breaking a lock file.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::Owner;
use crate::pidfile::Invalid;

/// Why a lock file could not be acquired, read or broken. Each variant names the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another process holds the lock (or, with `stale`, held it and died).
    #[error("{}: held by {owner}{}", path.display(), if *stale {
        " (stale: that process is gone; acquire with replace_stale to take it over)"
    } else { "" })]
    Held {
        /// The lock file.
        path: PathBuf,
        /// Its recorded owner.
        owner: Owner,
        /// Whether the owner is known to be dead (only ever judged for this host's records).
        stale: bool,
    },
    /// Another process holds the lock and has not written its record yet (it is starting).
    #[error("{}: locked{}, no owner recorded yet", path.display(), match pid {
        Some(p) => format!(" by PID {p}"),
        None => String::new(),
    })]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// The lock holder, as the kernel's lock table names it.
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
    /// The file exists but is not a lock record. Acquiring leaves it as it was.
    #[error("{}: malformed lock file: {problem}", path.display())]
    Malformed {
        /// The lock file.
        path: PathBuf,
        /// What is wrong.
        problem: Malformed,
    },
    /// Opening, locking or checking the file failed ([`crate::flock`] names the step).
    #[error(transparent)]
    Lock(crate::flock::Error),
    /// The path kept naming a new file while the lock was taken (someone removing and
    /// re-creating it in a loop).
    #[error("{}: the file kept changing while it was being locked", path.display())]
    Unstable {
        /// The lock file.
        path: PathBuf,
    },
    /// Another system call failed, in the named step.
    #[error("{}: cannot {step}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What was being done.
        step: Step,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// A step of taking, reading or breaking a lock file that the OS refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// `open(2)` for reading.
    Open,
    /// `fstat(2)`.
    Stat,
    /// `pread(2)` of the record.
    Read,
    /// `ftruncate(2)` and `pwrite(2)` of our record.
    Write,
    /// Probing the lock (`flock(2)`).
    TestLock,
    /// `unlink(2)`.
    Remove,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Open => "open",
            Step::Stat => "stat",
            Step::Read => "read",
            Step::Write => "write",
            Step::TestLock => "test the lock of",
            Step::Remove => "remove",
        })
    }
}

/// What is wrong with a lock record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The first line is not a PID.
    #[error("{0}")]
    Pid(#[source] Invalid),
    /// Longer than any record.
    #[error("longer than {0} bytes")]
    TooLong(usize),
    /// Not UTF-8 text.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// No `host=` line.
    #[error("no host= line")]
    NoHost,
    /// No `time=` line.
    #[error("no time= line")]
    NoTime,
    /// A `time=` value that is not RFC 3339.
    #[error("bad time {0:?}")]
    BadTime(String),
}
