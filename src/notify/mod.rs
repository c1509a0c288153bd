//! Readiness: the `sd_notify` protocol (listener and client) and the notify-fd protocol.
//!
//! A service is *started* when its process exists, but *ready* only when it says so. Two
//! protocols carry that message from the service to whoever supervises it:
//!
//! - **sd_notify** (systemd's, also spoken by many programs and libraries): the supervisor
//!   binds a Unix datagram socket and passes its address in the environment variable
//!   `NOTIFY_SOCKET` (a filesystem path, or `@name` for an abstract socket). The service sends
//!   datagrams of newline-separated `KEY=VALUE` lines: `READY=1`, `STATUS=…`, `ERRNO=…`,
//!   `MAINPID=…`, `EXTEND_TIMEOUT_USEC=…`, `STOPPING=1`, `RELOADING=1`, and any others. The
//!   kernel attaches the sender's credentials (`SCM_CREDENTIALS`), so the supervisor knows
//!   which process spoke and can ignore everyone outside the tree it supervises.
//! - **notify-fd** (s6's and dinit's): the supervisor gives the service the write end of a
//!   pipe on an agreed descriptor *N* (and, in pidward, the variable `NOTIFY_FD=N`); the
//!   service writes a newline to it when ready, then closes it.
//!
//! # The pieces
//!
//! | side | item | does |
//! |---|---|---|
//! | supervisor | [`Listener`] | a private datagram socket with `SO_PASSCRED`; [`Listener::recv`] returns one parsed [`Notification`] from an accepted sender ([`Accept`]) |
//! | supervisor | [`ReadyWatch`] | the non-blocking readiness wait for a caller's own poll loop: [`ReadyWatch::poll`] drains the channel, owns the deadline that `EXTEND_TIMEOUT_USEC=` extends, gives a [`ReadyOutcome`] when the start is over |
//! | supervisor | [`ReadySource`], [`ReadySource::wait`] | the same wait, blocking, over a listener or a pipe plus the child's pidfd |
//! | supervisor | [`Notifier::relay_ready`] | tells *its own* supervisor (an outer `NOTIFY_SOCKET`) that the service is ready, naming its `MAINPID=` |
//! | service | [`ready`], [`status`], [`stopping`], [`reloading`], [`extend_timeout`], [`errno()`], [`notify`], [`barrier`] | the client: sends to `$NOTIFY_SOCKET`, `Ok(false)` when there is none; works under systemd too |
//! | supervisor | [`Probe`], [`Check`] | readiness found out by the supervisor: a TCP connect, a check command, a file, tried every interval without blocking |
//! | service | [`notify_fd`] | writes the newline to `$NOTIFY_FD` and closes it |
//!
//! The `pidward notify` subcommand is the same client for shell scripts. Every failure is an
//! [`Error`] (which converts into [`std::io::Error`] with itself as the source).
//!
//! # The contract between a supervisor and its child
//!
//! A supervisor that itself runs under an outer manager (systemd, or another pidward) must
//! keep the outer socket for itself and give the child its own:
//!
//! 1. Before spawning, capture the outer address: `let upstream = Notifier::from_env()?;`.
//! 2. In the child's environment, *replace* `NOTIFY_SOCKET` by [`Listener::address`] (for
//!    `--ready notify`), or set `NOTIFY_FD=N` and *remove* `NOTIFY_SOCKET` (for `--ready fd:N`),
//!    or remove both (for readiness on exec). A child must never see the outer socket: the
//!    outer manager expects messages about the supervisor's main process, not from a
//!    grandchild.
//! 3. After the spawn, close the supervisor's copy of a notify-fd pipe's write end (only the
//!    child may hold it, or the end of file that says "the child gave up" never comes).
//! 4. Wait with [`ReadySource::wait`]; on [`ReadyOutcome::Ready`], relay upward with
//!    `upstream.relay_ready(main_pid, status)`, where `main_pid` is the child's PID or the
//!    `MAINPID=` the child announced.
//! 5. Keep the [`Listener`] in the poll loop for the child's whole life and call
//!    [`Listener::recv`] whenever it is readable: later `STATUS=`, `STOPPING=1` and
//!    `RELOADING=1` messages arrive there, and clients that wait for a [`barrier`] (as
//!    `pidward notify` does) wait for the listener to read their messages.
//!
//! # Why an abstract socket by default
//!
//! [`Listener::bind_private`] binds a fresh abstract socket whose name the kernel picks
//! (autobind), not a file in a private directory. A child that was chrooted, or that dropped
//! privileges to a user who cannot enter a root-only directory, can still reach an abstract
//! socket; nothing is left on disk if the supervisor is killed; no name can collide. Anyone in
//! the same network namespace *can* send to it, which is why every datagram's sender is
//! checked against the supervised process tree from its kernel-attested credentials.
//! [`Listener::bind`] takes an explicit path (or `@name`) when a filesystem socket is wanted,
//! for example for a child in another network namespace.
//!
//! # Example: a supervisor waiting for its child
//!
//! ```no_run
//! use std::os::fd::AsFd;
//! use std::process::Command;
//! use std::time::Duration;
//! use pidward::notify::{Listener, Notifier, ReadyOutcome, ReadySource};
//!
//! let upstream = Notifier::from_env()?;
//! let listener = Listener::bind_private()?;
//! let mut child = Command::new("my-service")
//!     .env("NOTIFY_SOCKET", listener.address())
//!     .spawn()?;
//! let pidfd = rustix::process::pidfd_open(
//!     rustix::process::Pid::from_child(&child),
//!     rustix::process::PidfdFlags::empty(),
//! )?;
//! let source = ReadySource::Notify(listener);
//! match source.wait(pidfd.as_fd(), Duration::from_secs(60), |n| {
//!     if let Some(status) = &n.status {
//!         eprintln!("my-service: {status}");
//!     }
//! })? {
//!     ReadyOutcome::Ready { main_pid, status } => {
//!         if let Some(up) = &upstream {
//!             up.relay_ready(main_pid.unwrap_or(child.id()), status.as_deref())?;
//!         }
//!     }
//!     ReadyOutcome::Failed { errno, .. } => {
//!         eprintln!("my-service failed: {}", std::io::Error::from_raw_os_error(errno));
//!     }
//!     ReadyOutcome::ChildExited => eprintln!("my-service exited: {}", child.wait()?),
//!     ReadyOutcome::Timeout | ReadyOutcome::Closed => eprintln!("my-service never became ready"),
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::socket::UnixAddr;

mod client;
mod datagram;
mod error;
mod listener;
mod message;
mod probe;
mod probe_exec;
mod probe_tcp;
mod ready;
mod watch;

pub use client::{
    Notifier, barrier, errno, extend_timeout, notify, notify_fd, ready, reloading, status, stopping,
};
pub use error::{Call, Error};
pub use listener::{Accept, Listener};
pub use message::{MAX_MESSAGE, Notification};
pub use probe::{Check, PROBE_INTERVAL, Probe};
pub use ready::{ReadyOutcome, ReadySource};
pub(crate) use watch::poll_until;
pub use watch::{CLOSE_GRACE, ReadyWatch};

/// The environment variable holding the sd_notify socket address (`/path` or `@abstract`).
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// The environment variable holding the number of the notify-fd descriptor.
///
/// pidward sets it in the child's environment for `--ready fd:N`, so that a program (or
/// [`notify_fd`], or `pidward notify --ready`) can find the descriptor without being told
/// *N* separately.
pub const NOTIFY_FD: &str = "NOTIFY_FD";

/// Parses an address in `NOTIFY_SOCKET` syntax: an absolute path, or `@name` for the abstract
/// namespace (the `@` stands for the leading NUL byte).
fn parse_address(value: &OsStr) -> Result<UnixAddr, Error> {
    let bytes = value.as_bytes();
    let result = match bytes.first() {
        Some(b'@') => UnixAddr::new_abstract(&bytes[1..]),
        Some(b'/') => UnixAddr::new(Path::new(value)),
        _ => {
            return Err(Error::NotAnAddress {
                address: value.to_owned(),
            });
        }
    };
    result.map_err(|errno| Error::BadAddress {
        address: value.to_owned(),
        source: errno.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_as_paths_or_abstract_names() {
        let abs = parse_address(OsStr::new("@pidward/test")).unwrap();
        assert_eq!(abs.as_abstract(), Some(&b"pidward/test"[..]));
        let path = parse_address(OsStr::new("/run/x.sock")).unwrap();
        assert_eq!(path.path(), Some(Path::new("/run/x.sock")));
        for bad in ["", "relative.sock", "vsock:2:1234"] {
            let err = parse_address(OsStr::new(bad)).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        let long = format!("/{}", "x".repeat(200));
        let err = parse_address(OsStr::new(&long)).unwrap_err();
        assert!(err.to_string().contains("File name too long"), "{err}");
    }
}
