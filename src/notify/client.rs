//! The service's end: telling the supervisor, over `NOTIFY_SOCKET` or `NOTIFY_FD`.
//!
//! The free functions ([`ready`], [`status`], …) read `NOTIFY_SOCKET` at each call, send one
//! datagram, and return `Ok(false)` when the variable is unset or empty, so that a program
//! runs the same with or without a supervisor. They speak the protocol exactly as systemd's
//! `sd_notify(3)` does (absolute paths and `@abstract` names; no `vsock:` addresses), so they
//! work under systemd, under `pidward run --ready notify`, and under any other listener.
//!
//! [`Notifier`] holds one resolved address and its socket, for a supervisor that captures its
//! own supervisor's `NOTIFY_SOCKET` before giving its child another one, and later relays
//! readiness upward ([`Notifier::relay_ready`]).
//!
//! Sending never blocks forever: the socket has a 5-second send timeout (`SO_SNDTIMEO`) for
//! a listener whose queue is full, sendmsg(2) is retried on `EINTR`, and `MSG_NOSIGNAL` keeps
//! `SIGPIPE` away.
//!
//! [`barrier`] is systemd's `sd_notify_barrier(3)`: it sends `BARRIER=1` with the write end
//! of a fresh pipe attached, and waits until the listener has read (and so closed) it, which
//! proves that the messages sent before were read. A sender that exits right after sending
//! should do this, or the listener may look for it in the process tree when it is gone.

use std::ffi::{OsStr, OsString};
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    self, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr, sockopt,
};
use nix::sys::time::TimeVal;
use rustix::event::PollFlags;

use super::error::{Call, Error};
use super::{NOTIFY_FD, NOTIFY_SOCKET, parse_address};

/// How long a send may wait for room in a full listener queue.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// A client bound to one sd_notify address.
///
/// ```
/// use pidward::notify::{Listener, Notifier};
///
/// let listener = Listener::bind_private()?;
/// let notifier = Notifier::new(listener.address())?;
/// notifier.send("STATUS=loading the cache")?;
/// notifier.relay_ready(4242, Some("serving"))?;
///
/// assert_eq!(listener.recv()?.unwrap().status.as_deref(), Some("loading the cache"));
/// let relayed = listener.recv()?.unwrap();
/// assert!(relayed.ready);
/// assert_eq!(relayed.get("MAINPID"), Some("4242"));
/// assert_eq!(relayed.status.as_deref(), Some("serving"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Notifier {
    address: OsString,
    addr: UnixAddr,
    fd: OwnedFd,
}

impl Notifier {
    /// The notifier for `$NOTIFY_SOCKET`, or `None` when it is unset or empty.
    ///
    /// A supervisor calls this once at start, before it gives its child a `NOTIFY_SOCKET` of
    /// its own, to keep the way to *its* supervisor.
    ///
    /// An address that is neither an absolute path nor `@name` is an error naming it.
    pub fn from_env() -> Result<Option<Notifier>, Error> {
        match std::env::var_os(NOTIFY_SOCKET) {
            Some(value) if !value.is_empty() => {
                Notifier::new(&value)
                    .map(Some)
                    .map_err(|e| Error::Environment {
                        source: Box::new(e),
                    })
            }
            _ => Ok(None),
        }
    }

    /// A notifier for an address in `NOTIFY_SOCKET` syntax (`/path` or `@name`). Creates the
    /// socket (socket(2) `AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC`, with `SO_SNDTIMEO`) but sends
    /// nothing: an address nobody listens on fails at the first send.
    pub fn new(address: impl AsRef<OsStr>) -> Result<Notifier, Error> {
        let address = address.as_ref();
        let addr = parse_address(address)?;
        let fd = socket::socket(
            AddressFamily::Unix,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(Error::sys(Call::ClientSocket))?;
        let timeout = TimeVal::new(SEND_TIMEOUT.as_secs() as _, 0);
        socket::setsockopt(&fd, sockopt::SendTimeout, &timeout)
            .map_err(Error::sys(Call::SendTimeout))?;
        Ok(Notifier {
            address: address.to_owned(),
            addr,
            fd,
        })
    }

    /// The address this notifier sends to.
    pub fn address(&self) -> &OsStr {
        &self.address
    }

    /// Sends one message: newline-separated `KEY=VALUE` lines (sendmsg(2)). An empty message
    /// is an error, as with `sd_notify(3)`.
    pub fn send(&self, state: &str) -> Result<(), Error> {
        if state.is_empty() {
            return Err(Error::EmptyMessage);
        }
        self.sendmsg(state.as_bytes(), &[])
    }

    /// Tells the supervisor that the service is ready, naming its main process:
    /// `READY=1`, `MAINPID=main_pid` and, if given, `STATUS=status`.
    ///
    /// A supervisor calls it on its captured [`Notifier::from_env`] once its child declared
    /// readiness, so that an outer manager (systemd with `Type=notify`, or another pidward)
    /// sees the service ready and knows which process it is.
    #[inline(never)]
    pub fn relay_ready(&self, main_pid: u32, status: Option<&str>) -> Result<(), Error> {
        let mut message = format!("READY=1\nMAINPID={main_pid}");
        if let Some(status) = status {
            message.push_str("\nSTATUS=");
            message.push_str(one_line("STATUS", status)?);
        }
        self.send(&message)
    }

    /// Waits until the listener has read every message sent so far (`BARRIER=1`, as
    /// `sd_notify_barrier(3)`), or fails with [`io::ErrorKind::TimedOut`] after `timeout`.
    ///
    /// pipe2(2) makes the pipe, sendmsg(2) passes its write end with `SCM_RIGHTS`, and
    /// poll(2) on the read end (retried on `EINTR`) sees `POLLHUP` once the listener closed it.
    pub fn barrier(&self, timeout: Duration) -> Result<(), Error> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(Error::sys(Call::BarrierPipe))?;
        self.sendmsg(b"BARRIER=1", &[write.as_raw_fd()])?;
        drop(write);
        // The listener closes its copy of the write end when it reads the message: then the
        // read end reports POLLHUP.
        let deadline = Instant::now().checked_add(timeout);
        let revents = crate::sys::poll_fd_until(read.as_fd(), PollFlags::IN, deadline)
            .map_err(Error::sys(Call::PollBarrier))?;
        if revents.is_empty() {
            return Err(Error::BarrierTimeout {
                address: self.address.clone(),
                timeout,
            });
        }
        Ok(())
    }

    /// sendmsg(2) to the address with `MSG_NOSIGNAL`, retried on `EINTR`, passing `fds` with
    /// `SCM_RIGHTS` if any.
    fn sendmsg(&self, bytes: &[u8], fds: &[i32]) -> Result<(), Error> {
        let iov = [IoSlice::new(bytes)];
        let rights = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
        loop {
            match socket::sendmsg(
                self.fd.as_raw_fd(),
                &iov,
                cmsgs,
                MsgFlags::MSG_NOSIGNAL,
                Some(&self.addr),
            ) {
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(errno) => {
                    return Err(Error::Send {
                        address: self.address.clone(),
                        source: errno.into(),
                    });
                }
            }
        }
    }
}

impl AsFd for Notifier {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Sends a raw message (newline-separated `KEY=VALUE` lines) to `$NOTIFY_SOCKET`.
///
/// `Ok(true)` when sent, `Ok(false)` when `NOTIFY_SOCKET` is unset or empty (no supervisor
/// listens: nothing to do), `Err` when the address is malformed or sending fails.
///
/// ```
/// // Harmless without a supervisor: returns Ok(false).
/// let _sent: bool = pidward::notify::notify("STATUS=warming up\nX_CACHE_ENTRIES=0")?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn notify(state: &str) -> Result<bool, Error> {
    match Notifier::from_env()? {
        Some(notifier) => notifier.send(state).map(|()| true),
        None => Ok(false),
    }
}

/// Declares the service ready: `READY=1` to `$NOTIFY_SOCKET` and a newline to `$NOTIFY_FD`
/// (each if set; see [`notify_fd`]). `Ok(false)` when neither is set.
///
/// ```
/// fn main() -> std::io::Result<()> {
///     // … bind sockets, load configuration …
///     pidward::notify::ready()?; // start-up done; Ok(false) without a supervisor
///     // … serve …
///     Ok(())
/// }
/// ```
pub fn ready() -> Result<bool, Error> {
    let sent = notify("READY=1")?;
    let written = notify_fd()?;
    Ok(sent || written)
}

/// Describes the service's state in one line of text: `STATUS=text`. A newline in `text` is
/// an error (it would start another field).
///
/// ```
/// pidward::notify::status("accepting connections on :8080")?;
/// assert!(pidward::notify::status("two\nlines").is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn status(text: &str) -> Result<bool, Error> {
    notify(&format!("STATUS={}", one_line("STATUS", text)?))
}

/// Announces that the service is shutting down: `STOPPING=1`.
///
/// ```
/// pidward::notify::stopping()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn stopping() -> Result<bool, Error> {
    notify("STOPPING=1")
}

/// Announces that the service is reloading its configuration: `RELOADING=1` with
/// `MONOTONIC_USEC=` (the `CLOCK_MONOTONIC` time, which systemd's `Type=notify-reload`
/// requires). Send [`ready`] when the reload is done.
///
/// ```
/// pidward::notify::reloading()?;
/// // … re-read the configuration …
/// pidward::notify::ready()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn reloading() -> Result<bool, Error> {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let usec = now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1000;
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"))
}

/// Asks for more time: `EXTEND_TIMEOUT_USEC=`. The supervisor's deadline becomes at least
/// now + `by`; send it again before that runs out if more is needed.
///
/// ```
/// use std::time::Duration;
///
/// pidward::notify::extend_timeout(Duration::from_secs(30))?; // migrating the database
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn extend_timeout(by: Duration) -> Result<bool, Error> {
    notify(&format!("EXTEND_TIMEOUT_USEC={}", by.as_micros()))
}

/// Reports a failure as an errno: `ERRNO=code`. Sent before readiness, it makes
/// `pidward run --ready notify` fail at once, naming the error ("Address already in use"
/// for 98). A negative code is an error.
///
/// ```
/// if let Err(err) = std::net::TcpListener::bind("127.0.0.1:0") {
///     pidward::notify::errno(err.raw_os_error().unwrap_or(libc::EIO))?;
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn errno(code: i32) -> Result<bool, Error> {
    if code < 0 {
        return Err(Error::NegativeErrno(code));
    }
    notify(&format!("ERRNO={code}"))
}

/// Waits until the supervisor has read every message this process sent so far
/// (`BARRIER=1`, see [`Notifier::barrier`]). `Ok(false)` when `NOTIFY_SOCKET` is unset.
///
/// ```
/// use std::time::Duration;
///
/// pidward::notify::ready()?;
/// pidward::notify::barrier(Duration::from_secs(5))?; // now it is safe to exit
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn barrier(timeout: Duration) -> Result<bool, Error> {
    match Notifier::from_env()? {
        Some(notifier) => notifier.barrier(timeout).map(|()| true),
        None => Ok(false),
    }
}

/// Set once the notify-fd descriptor has been written and closed.
static NOTIFY_FD_USED: AtomicBool = AtomicBool::new(false);

/// The notify-fd protocol: writes a newline to the descriptor named by `$NOTIFY_FD`, then
/// closes it (write(2), close(2)).
///
/// `Ok(true)` when written; `Ok(false)` when `NOTIFY_FD` is unset or empty, or readiness was
/// already written by an earlier call. A value that is not a number of 3 or more, or names a
/// descriptor that is not open, is an error naming it. The descriptor was handed to the
/// program for this purpose alone: this function assumes nothing else in the program uses
/// it, and closes it. [`ready`] calls it too.
///
/// ```
/// // Without NOTIFY_FD in the environment there is nothing to write.
/// let _written: bool = pidward::notify::notify_fd()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn notify_fd() -> Result<bool, Error> {
    let value = match std::env::var_os(NOTIFY_FD) {
        Some(value) if !value.is_empty() => value,
        _ => return Ok(false),
    };
    let fd = value
        .to_str()
        .filter(|text| text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse::<i32>().ok())
        .filter(|&fd| fd >= 3)
        .ok_or_else(|| Error::NotADescriptor {
            value: value.clone(),
        })?;
    if NOTIFY_FD_USED.swap(true, Ordering::SeqCst) {
        return Ok(false);
    }
    // SAFETY: fcntl(F_GETFD) only queries the descriptor table.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(Error::Descriptor {
            fd,
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: the descriptor is open (checked just above) and, by the protocol, belongs to
    // this function; it stays open until the close below.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let result = loop {
        match rustix::io::write(borrowed, b"\n") {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other,
        }
    };
    // SAFETY: as above; nothing uses the descriptor after this.
    unsafe { libc::close(fd) };
    match result {
        Ok(_) => Ok(true),
        Err(err) => Err(Error::Descriptor {
            fd,
            source: err.into(),
        }),
    }
}

/// `text` if it holds no newline, else an error naming the field.
fn one_line<'a>(field: &'static str, text: &'a str) -> Result<&'a str, Error> {
    if text.contains('\n') {
        return Err(Error::MultiLine {
            field,
            text: text.to_owned(),
        });
    }
    Ok(text)
}
