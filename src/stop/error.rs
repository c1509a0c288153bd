//! What can go wrong in [`stop`](super::stop) and in parsing a [`Schedule`](super::Schedule).

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::Signal;
use crate::pidfile::Status;

/// Why [`stop`](super::stop) could not act, or why a schedule does not parse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The PID file cannot be read or holds no PID, so nothing can be said about what runs.
    #[error("{}: cannot tell what is running: {status}", path.display())]
    CannotTell {
        /// The PID file.
        path: PathBuf,
        /// What [`pidfile::status`](crate::pidfile::status) found.
        status: Status,
    },
    /// The PID file could have been written by someone else, so its PID is not trusted.
    #[error("{}: refusing to signal: {why}", path.display())]
    Untrusted {
        /// The PID file.
        path: PathBuf,
        /// Why it is not trusted.
        why: Untrusted,
    },
    /// The file names a PID that has exited, yet its lock is still held: a process that
    /// inherited the descriptor (a forked child) keeps the service "running", and the file does
    /// not say which process that is. Nothing is signalled.
    #[error(
        "{}: PID {pid} has exited but the file is still locked by a process that inherited it; \
         not signalling anything",
        path.display()
    )]
    OrphanedLock {
        /// The PID file.
        path: PathBuf,
        /// The PID it names.
        pid: u32,
    },
    /// Sending the signal failed (EPERM: not permitted).
    #[error("cannot send {signal} to PID {pid}: {source}")]
    Signal {
        /// The target.
        pid: u32,
        /// The signal.
        signal: Signal,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Another system call failed, in the named step.
    #[error("{}: cannot {step}: {source}", path.display())]
    Io {
        /// The PID file.
        path: PathBuf,
        /// What was being done.
        step: Stage,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Removing a stale PID file failed.
    #[error("{}: cannot remove the PID file: {source}", path.display())]
    Remove {
        /// The PID file.
        path: PathBuf,
        /// Why: the file could not be locked, checked or unlinked.
        #[source]
        source: crate::pidfile::Error,
    },
    /// A stop schedule that does not parse.
    #[error("invalid stop schedule {text:?}: {problem}")]
    Schedule {
        /// The schedule as given.
        text: String,
        /// What is wrong with it.
        problem: ScheduleProblem,
    },
}

/// A step of [`stop`](super::stop) that the OS refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// `pidfd_open(2)` on the PID the file names.
    OpenPidfd,
    /// `poll(2)` on the pidfd, waiting for the process to exit.
    Wait,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::OpenPidfd => "open a pidfd for the PID it names (pidfd_open)",
            Stage::Wait => "wait for the process to exit (poll on its pidfd)",
        })
    }
}

/// Why a PID file's PID is not believed, or not acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Untrusted {
    /// Anyone may write the file.
    WorldWritable,
    /// The file belongs to a user other than root, us and the owner of the process it names.
    OtherOwner {
        /// The file's owner.
        uid: u32,
        /// The owner of the process the file names, when it could be read.
        process_uid: Option<u32>,
    },
    /// Members of a group other than root's and ours may write the file.
    GroupWritable {
        /// The file's group.
        gid: u32,
    },
    /// The file's directory may be written by others and has no sticky bit: anyone could
    /// have replaced the file.
    DirectoryWritable,
    /// The file's directory belongs to a user other than root, us and the process's owner,
    /// who could have replaced the file.
    DirectoryOwner {
        /// The directory's owner.
        uid: u32,
    },
    /// The file names PID 1 (init), which is never signalled from a PID file.
    NamesInit,
    /// The file names this very process.
    NamesSelf,
    /// The file names this process's parent (the shell or script that runs `stop`).
    NamesParent,
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Untrusted::WorldWritable => f.write_str("the file is world-writable"),
            Untrusted::OtherOwner { uid, process_uid } => {
                write!(
                    f,
                    "the file is owned by another user (uid {uid}), neither root nor "
                )?;
                match process_uid {
                    Some(p) => write!(f, "the owner of the process it names (uid {p})"),
                    None => f.write_str("the owner of the process it names"),
                }
            }
            Untrusted::GroupWritable { gid } => {
                write!(f, "the file is writable by group {gid}")
            }
            Untrusted::DirectoryWritable => {
                f.write_str("its directory is writable by others and has no sticky bit")
            }
            Untrusted::DirectoryOwner { uid } => write!(
                f,
                "its directory is owned by another user (uid {uid}), neither root nor the \
                 owner of the process"
            ),
            Untrusted::NamesInit => f.write_str("it names PID 1 (init), which is never signalled"),
            Untrusted::NamesSelf => f.write_str("it names this very process"),
            Untrusted::NamesParent => {
                f.write_str("it names the parent of this process (the caller)")
            }
        }
    }
}

/// What is wrong with a stop schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleProblem {
    /// An item is neither a wait in seconds nor a signal.
    #[error("{item:?} is neither a wait in seconds nor a signal ({source})")]
    BadItem {
        /// The item.
        item: String,
        /// Why it is not a signal.
        #[source]
        source: crate::signal::Error,
    },
    /// `forever` appears twice.
    #[error("'forever' appears more than once")]
    ForeverTwice,
    /// The schedule sends nothing.
    #[error("it sends no signal")]
    NoSignal,
    /// What `forever` repeats has nothing to wait for: it would spin.
    #[error("'forever' with no wait would spin")]
    ForeverWithoutWait,
}
