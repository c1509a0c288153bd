//! The one error type of the process API.
//!
//! Everything that can go wrong has its own variant so that callers can match on it: a command
//! that cannot be run as written (found before anything is started), a step of starting the
//! child that failed with an OS error (which step, and the errno), a write to (or read of) a
//! child fd that this handle does not write (or read), a signal to a child that was reaped already, and plain I/O
//! errors (where `BrokenPipe` means the child closed its end). [`Error`] converts into
//! [`std::io::Error`] so that `?` works in functions returning `io::Result`.

use std::io;

use crate::child::{self, Step};

/// Errors of [`Command`](super::Command) and [`Child`](super::Child).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command cannot be run as configured; nothing was started.
    #[error("invalid command: {0}")]
    InvalidCommand(String),
    /// The user or group named with [`Command::user`](super::Command::user) or
    /// [`Command::group`](super::Command::group) cannot be resolved or switched to; nothing
    /// was started.
    #[error("cannot start {program:?}: {source}")]
    Credentials {
        /// The program as given to [`Command::new`](super::Command::new).
        program: String,
        /// Why.
        #[source]
        source: crate::privileges::Error,
    },
    /// A step of starting the child failed; no child is left behind.
    #[error("cannot start {program:?}: {source}")]
    Spawn {
        /// The program as given to [`Command::new`](super::Command::new).
        program: String,
        /// The step that failed.
        step: Step,
        /// The step, its errno and its detail (e.g. the directory of a failed `chdir`).
        #[source]
        source: child::Error,
    },
    /// The child fd is not a pipe that this handle writes: it was not set up as
    /// [`ChildFd::Input`](super::ChildFd::Input), or it was taken or closed.
    #[error(
        "child fd {fd} is not a pipe this handle writes (not ChildFd::Input, taken, or closed)"
    )]
    NotWritable {
        /// The child fd number.
        fd: i32,
    },
    /// The child fd is not a pipe that this handle reads: it was not set up as
    /// [`ChildFd::Output`](super::ChildFd::Output), or it was taken or closed.
    #[error(
        "child fd {fd} is not a pipe this handle reads (not ChildFd::Output, taken, or closed)"
    )]
    NotReadable {
        /// The child fd number.
        fd: i32,
    },
    /// The child was reaped already, so it cannot be signalled: its PID may belong to another
    /// process by now. No signal was sent.
    #[error("process {pid} has exited already and was reaped; no signal was sent")]
    ProcessExitedAlready {
        /// The PID the child had.
        pid: u32,
    },
    /// Signalling the child's process group needs `pidfd_send_signal(2)` with
    /// `PIDFD_SIGNAL_PROCESS_GROUP` (Linux 6.9), which this kernel lacks: a group signal by
    /// number could reach a recycled group, so none was sent.
    #[error(
        "process {pid}: this kernel cannot signal a process group through a pidfd (Linux 6.9 or later needed); no signal was sent"
    )]
    GroupSignalUnsupported {
        /// The child's PID, which leads the group.
        pid: u32,
    },
    /// An I/O error; `BrokenPipe` when writing means that the child closed its end.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Error {
    /// The [`io::ErrorKind`] that best describes this error: the OS error's kind for
    /// [`Error::Spawn`] and [`Error::Io`] (`NotFound` for a missing program,
    /// `PermissionDenied` for one that is not executable, `BrokenPipe` for a closed pipe).
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Error::InvalidCommand(_) => io::ErrorKind::InvalidInput,
            Error::Credentials { source, .. } => match source {
                crate::privileges::Error::NotRoot { .. } => io::ErrorKind::PermissionDenied,
                _ => io::ErrorKind::InvalidInput,
            },
            Error::Spawn { source, .. } => source.os_error().kind(),
            Error::GroupSignalUnsupported { .. } => io::ErrorKind::Unsupported,
            Error::NotWritable { .. } | Error::NotReadable { .. } => io::ErrorKind::InvalidInput,
            Error::ProcessExitedAlready { .. } => io::ErrorKind::NotFound,
            Error::Io(e) => e.kind(),
        }
    }

    /// The errno behind this error, if there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Spawn { source, .. } => Some(source.code()),
            Error::Io(source) => source.raw_os_error(),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(e) => e,
            other => io::Error::new(other.kind(), other),
        }
    }
}
