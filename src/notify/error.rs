//! [`Error`]: why a readiness call failed. One variant per condition; the OS error is kept as
//! the source, never flattened into the text.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::{NOTIFY_FD, NOTIFY_SOCKET};

/// A failure of the sd_notify listener or client, or of the notify-fd protocol.
///
/// [`Error::kind`] gives the [`io::ErrorKind`] (`InvalidInput` for bad values, `TimedOut` for
/// an unanswered barrier, the OS error's kind otherwise), and `From<Error> for io::Error`
/// lets `?` carry it into `io::Result` code with the error kept as the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An address that is neither an absolute path nor `@name`.
    #[error(
        "notify socket address {address:?} is neither an absolute path nor an abstract name \
         (@name)"
    )]
    NotAnAddress {
        /// The address as given.
        address: OsString,
    },
    /// An address of the right shape that a socket cannot have (too long).
    #[error("notify socket address {address:?}: {source}")]
    BadAddress {
        /// The address as given.
        address: OsString,
        /// The OS error (`ENAMETOOLONG`).
        #[source]
        source: io::Error,
    },
    /// `$NOTIFY_SOCKET` holds an address that is not one.
    #[error("{NOTIFY_SOCKET}: {source}")]
    Environment {
        /// What is wrong with it.
        #[source]
        source: Box<Error>,
    },
    /// bind(2) of the listener failed.
    #[error("binding notify socket {address:?}: {source}")]
    Bind {
        /// The address.
        address: OsString,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The bound socket file cannot be inspected.
    #[error("stat of notify socket {path:?}: {source}")]
    Stat {
        /// Its path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// sendmsg(2) to the listener failed.
    #[error("sending to notify socket {address:?}: {source}")]
    Send {
        /// The address.
        address: OsString,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Another system call failed.
    #[error("{call}: {source}")]
    Sys {
        /// Which one.
        call: Call,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The kernel gave the autobound socket no abstract name.
    #[error("the kernel gave the notify socket no abstract name")]
    NoAbstractName,
    /// An empty message (as with `sd_notify(3)`).
    #[error("an empty notify message")]
    EmptyMessage,
    /// A field value that would span lines.
    #[error("{field}= must be one line, got {text:?}")]
    MultiLine {
        /// The field.
        field: &'static str,
        /// Its value.
        text: String,
    },
    /// A negative `ERRNO=`.
    #[error("ERRNO={0}: an errno is not negative")]
    NegativeErrno(i32),
    /// The listener did not confirm reading in time (`BARRIER=1`).
    #[error("notify socket {address:?} did not confirm reading the messages within {timeout:?}")]
    BarrierTimeout {
        /// The address.
        address: OsString,
        /// The time given.
        timeout: Duration,
    },
    /// `$NOTIFY_FD` is not a descriptor number of 3 or more.
    #[error("{NOTIFY_FD}={value:?} is not a descriptor number of 3 or more")]
    NotADescriptor {
        /// The value.
        value: OsString,
    },
    /// The `$NOTIFY_FD` descriptor is not open, or cannot be written.
    #[error("{NOTIFY_FD}={fd}: {source}")]
    Descriptor {
        /// The descriptor.
        fd: i32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// The system calls named in [`Error::Sys`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Call {
    /// socket(2) of the listener.
    ListenerSocket,
    /// socket(2) of a client.
    ClientSocket,
    /// setsockopt(2) `SO_PASSCRED`.
    PassCred,
    /// setsockopt(2) `SO_SNDTIMEO`.
    SendTimeout,
    /// bind(2) with an empty address (autobind).
    Autobind,
    /// getsockname(2).
    Getsockname,
    /// recvmsg(2) on the listener.
    Recvmsg,
    /// pipe2(2) for the notify-fd protocol.
    Pipe,
    /// pipe2(2) for a barrier.
    BarrierPipe,
    /// poll(2) on a barrier's pipe.
    PollBarrier,
    /// poll(2) on the readiness channel.
    PollChannel,
    /// poll(2) on the child's pidfd.
    PollPidfd,
    /// read(2) from the notify-fd pipe.
    ReadPipe,
    /// fcntl(2) `O_NONBLOCK` on the notify-fd pipe.
    Nonblocking,
    /// Making a readiness probe's timer or poll set (`timerfd_create(2)`, `epoll_create1(2)`).
    Probe,
    /// Starting a readiness probe's check command.
    ProbeSpawn,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Call::ListenerSocket => "creating a notify socket",
            Call::ClientSocket => "creating a notify client socket",
            Call::PassCred => "setting SO_PASSCRED on the notify socket",
            Call::SendTimeout => "setting SO_SNDTIMEO on the notify client socket",
            Call::Autobind => "binding a notify socket (autobind)",
            Call::Getsockname => "getsockname on the notify socket",
            Call::Recvmsg => "recvmsg on the notify socket",
            Call::Pipe => "creating the notify-fd pipe",
            Call::BarrierPipe => "creating the barrier pipe",
            Call::PollBarrier => "poll on the barrier pipe",
            Call::PollChannel => "poll on the readiness channel",
            Call::PollPidfd => "poll on the child's pidfd",
            Call::ReadPipe => "read from the notify-fd pipe",
            Call::Nonblocking => "making the notify-fd pipe non-blocking",
            Call::Probe => "setting up the readiness probe",
            Call::ProbeSpawn => "starting the readiness check",
        })
    }
}

impl Error {
    /// The kind of failure, as [`io::ErrorKind`].
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Error::NotAnAddress { .. }
            | Error::BadAddress { .. }
            | Error::EmptyMessage
            | Error::MultiLine { .. }
            | Error::NegativeErrno(_)
            | Error::NotADescriptor { .. } => io::ErrorKind::InvalidInput,
            Error::Environment { source } => source.kind(),
            Error::BarrierTimeout { .. } => io::ErrorKind::TimedOut,
            Error::NoAbstractName => io::ErrorKind::Other,
            Error::Bind { source, .. }
            | Error::Stat { source, .. }
            | Error::Send { source, .. }
            | Error::Sys { source, .. }
            | Error::Descriptor { source, .. } => source.kind(),
        }
    }

    /// A failed system call, for `map_err`.
    pub(super) fn sys<E: Into<io::Error>>(call: Call) -> impl FnOnce(E) -> Error {
        move |e| Error::Sys {
            call,
            source: e.into(),
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}
