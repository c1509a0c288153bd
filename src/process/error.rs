//! The one error type of the process API.
//!
//! Everything that can go wrong has its own variant so that callers can match on it: a command
//! that cannot be run as written (found before anything is started), a step of starting the
//! child that failed with an OS error (which step, and the errno), a write to a child fd that
//! this handle does not write, a signal to a child that was reaped already, and plain I/O
//! errors (where `BrokenPipe` means the child closed its end). [`Error`] converts into
//! [`std::io::Error`] so that `?` works in functions returning `io::Result`.

use std::fmt;
use std::io;

/// The step of starting a child that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpawnStep {
    /// Creating a pipe or opening `/dev/null` in the parent.
    Pipes,
    /// `clone(2)`: the kernel refused to create the process.
    Clone,
    /// Resetting signal dispositions and the signal mask in the child.
    Signals,
    /// `setsid(2)` in the child.
    Setsid,
    /// `setpgid(2)` in the child.
    ProcessGroup,
    /// Placing the mapped file descriptors at their child fd numbers (`fcntl`, `dup2`).
    FdMap,
    /// Closing every other file descriptor (`close_range(2)`).
    CloseFds,
    /// `umask(2)` in the child.
    Umask,
    /// `setrlimit(2)` in the child.
    Rlimit,
    /// `chdir(2)` to the working directory.
    Chdir,
    /// `setgroups(2)`: the supplementary groups.
    Groups,
    /// `setresgid(2)`.
    Gid,
    /// `setresuid(2)`.
    Uid,
    /// `execve(2)`: the program was not found, not executable, or not loadable.
    Exec,
}

impl fmt::Display for SpawnStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpawnStep::Pipes => "creating pipes",
            SpawnStep::Clone => "creating the process",
            SpawnStep::Signals => "resetting signals",
            SpawnStep::Setsid => "starting a new session",
            SpawnStep::ProcessGroup => "setting the process group",
            SpawnStep::FdMap => "mapping file descriptors",
            SpawnStep::CloseFds => "closing inherited file descriptors",
            SpawnStep::Umask => "setting the umask",
            SpawnStep::Rlimit => "setting a resource limit",
            SpawnStep::Chdir => "changing directory",
            SpawnStep::Groups => "setting supplementary groups",
            SpawnStep::Gid => "setting the group id",
            SpawnStep::Uid => "setting the user id",
            SpawnStep::Exec => "executing the program",
        })
    }
}

/// Errors of [`Command`](super::Command) and [`Child`](super::Child).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command cannot be run as configured; nothing was started.
    #[error("invalid command: {0}")]
    InvalidCommand(String),
    /// A step of starting the child failed; no child is left behind.
    #[error("cannot start {program:?}: {detail}: {source}")]
    Spawn {
        /// The program as given to [`Command::new`](super::Command::new).
        program: String,
        /// The step that failed.
        step: SpawnStep,
        /// The step with its argument, e.g. `changing directory to "/srv"`.
        detail: String,
        /// The OS error of the failed step.
        #[source]
        source: io::Error,
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
    /// The child was reaped already, so it cannot be signalled: its PID may belong to another
    /// process by now. No signal was sent.
    #[error("process {pid} has exited already and was reaped; no signal was sent")]
    ProcessExitedAlready {
        /// The PID the child had.
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
            Error::Spawn { source, .. } => source.kind(),
            Error::NotWritable { .. } => io::ErrorKind::InvalidInput,
            Error::ProcessExitedAlready { .. } => io::ErrorKind::NotFound,
            Error::Io(e) => e.kind(),
        }
    }

    /// The errno behind this error, if there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Spawn { source, .. } | Error::Io(source) => source.raw_os_error(),
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
