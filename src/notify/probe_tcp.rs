//! The TCP check of a readiness probe: one non-blocking `connect(2)` per attempt
//! (`socket(2)` with `SOCK_NONBLOCK|SOCK_CLOEXEC`), done when the socket becomes writable
//! (`poll(2)`), judged by `getsockopt(SO_ERROR)`, abandoned at its deadline. The connection
//! is closed at once: only its success counts.

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Instant;

use rustix::event::PollFlags;

/// How an attempt began.
#[derive(Debug)]
pub(super) enum Connect {
    /// Over at once: connected (`true`) or refused.
    Done(bool),
    /// In progress.
    Pending(Connecting),
}

/// A connect in progress.
#[derive(Debug)]
pub(super) struct Connecting {
    socket: OwnedFd,
    until: Instant,
}

impl Connecting {
    /// `socket(2)` and a non-blocking `connect(2)` to `addr`, given until `until`.
    pub(super) fn start(addr: SocketAddr, until: Instant) -> Connect {
        let (storage, len) = sockaddr(addr);
        let family = match addr {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        // SAFETY: socket(2) with constant arguments; a new descriptor on success.
        let fd = unsafe {
            libc::socket(
                family,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if fd < 0 {
            return Connect::Done(false);
        }
        // SAFETY: socket(2) returned a fresh descriptor that nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: connect(2) with an initialised address of the given length.
        let r = unsafe {
            libc::connect(
                socket.as_raw_fd(),
                (&raw const storage).cast::<libc::sockaddr>(),
                len,
            )
        };
        if r == 0 {
            return Connect::Done(true);
        }
        match crate::sys::errno() {
            libc::EINPROGRESS | libc::EINTR => Connect::Pending(Connecting { socket, until }),
            _ => Connect::Done(false),
        }
    }

    /// The attempt's deadline.
    pub(super) fn until(&self) -> Instant {
        self.until
    }

    /// `Some(connected)` once it is over (writable, or past its deadline), `None` before.
    pub(super) fn poll(&self) -> Option<bool> {
        let writable =
            crate::sys::poll_fd_until(self.socket.as_fd(), PollFlags::OUT, Some(Instant::now()))
                .is_ok_and(|r| !r.is_empty());
        if !writable {
            return (Instant::now() >= self.until).then_some(false);
        }
        let mut error: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt(2) of SO_ERROR into an int of the given size.
        let r = unsafe {
            libc::getsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&raw mut error).cast(),
                &mut len,
            )
        };
        Some(r == 0 && error == 0)
    }
}

impl AsFd for Connecting {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// `addr` as a `sockaddr_storage` and its length.
fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}
