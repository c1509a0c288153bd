//! One connection to an endpoint, plain TCP or TLS, every wait bounded by a deadline.
//!
//! The socket is non-blocking once connected, and every wait is a `poll(2)` on it and,
//! optionally, on a *cancel* descriptor (the lease keeper's pipe), so that nothing blocks past
//! the caller's deadline and a cancelled wait ends at once ([`io::ErrorKind::Interrupted`]).
//!
//! Over TLS, rustls holds the protocol state and this file moves the bytes: decrypted data
//! rustls already has is returned before the socket is polled again (it may hold a whole
//! answer that the socket will never signal again), records are read only when rustls wants
//! them, and what rustls wants sent (the handshake, alerts, the request) is written as the
//! socket accepts it. The handshake is made in [`connect`], so that a certificate the client
//! does not trust fails there. A TLS failure (the server's certificate, or ours refused: TLS
//! 1.3 reports that only on the first read) is an [`io::Error`] carrying the
//! [`rustls::Error`], which the client tells apart from an unreachable endpoint.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Instant;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustls::ClientConnection;
use rustls::client::ClientConfig;
use rustls::pki_types::ServerName;

use super::endpoint::Endpoint;
use super::resolve::Resolver;

/// A connected socket, with TLS over it or not.
pub(crate) struct Conn {
    sock: TcpStream,
    tls: Option<Box<ClientConnection>>,
}

/// `poll(2)` on a socket and an optional cancel fd until `deadline`, retrying `EINTR` with the
/// remaining time. `Ok(true)`: the socket is ready; `Ok(false)`: cancelled.
fn wait_ready(
    sock: BorrowedFd<'_>,
    events: PollFlags,
    cancel: Option<BorrowedFd<'_>>,
    deadline: Instant,
) -> io::Result<bool> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let ts = Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        let mut fds = vec![PollFd::from_borrowed_fd(sock, events)];
        if let Some(c) = cancel {
            fds.push(PollFd::from_borrowed_fd(c, PollFlags::IN));
        }
        match poll(&mut fds, Some(&ts)) {
            Ok(0) => continue,
            Ok(_) if fds.len() > 1 && !fds[1].revents().is_empty() => return Ok(false),
            Ok(_) => return Ok(true),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Wait for `events`, or fail: timed out, or cancelled (`Interrupted`).
fn ready(
    sock: &TcpStream,
    events: PollFlags,
    cancel: Option<BorrowedFd<'_>>,
    deadline: Instant,
) -> io::Result<()> {
    match wait_ready(sock.as_fd(), events, cancel, deadline)? {
        true => Ok(()),
        false => Err(io::ErrorKind::Interrupted.into()),
    }
}

/// A TLS failure, kept whole for the client to recognise (`error.rs`).
fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Resolve (within the deadline, `resolve.rs`), connect (`connect(2)` with a timeout) to each
/// address in turn, and with `tls` make the handshake, all before `deadline`.
pub(crate) fn connect(
    ep: &Endpoint,
    tls: Option<&Arc<ClientConfig>>,
    resolver: &Resolver,
    deadline: Instant,
    cancel: Option<BorrowedFd<'_>>,
) -> io::Result<Conn> {
    let addrs = resolver.resolve(&ep.host, ep.port, deadline)?;
    let mut last = io::Error::from(io::ErrorKind::AddrNotAvailable);
    let mut sock = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let Some(sock) = sock else {
        resolver.forget(&ep.host);
        return Err(last);
    };
    sock.set_nodelay(true)?;
    sock.set_nonblocking(true)?;
    let mut conn = Conn { sock, tls: None };
    if let Some(config) = tls {
        let name = ServerName::try_from(ep.host.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls = ClientConnection::new(config.clone(), name).map_err(tls_error)?;
        conn.tls = Some(Box::new(tls));
        conn.handshake(deadline, cancel)?;
    }
    Ok(conn)
}

impl Conn {
    /// Complete the TLS handshake.
    fn handshake(&mut self, deadline: Instant, cancel: Option<BorrowedFd<'_>>) -> io::Result<()> {
        while self.tls.as_ref().is_some_and(|t| t.is_handshaking()) {
            self.flush(deadline)?;
            if !self.tls.as_ref().is_some_and(|t| t.is_handshaking()) {
                break;
            }
            if self.read_records(deadline, cancel)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed during the TLS handshake",
                ));
            }
        }
        self.flush(deadline)
    }

    /// Write what rustls has to send, as the socket takes it.
    fn flush(&mut self, deadline: Instant) -> io::Result<()> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(());
        };
        while tls.wants_write() {
            match tls.write_tls(&mut &self.sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready(&self.sock, PollFlags::OUT, None, deadline)?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Read TLS records from the socket once it is readable, and process them; the bytes read
    /// (0: the connection was closed).
    fn read_records(
        &mut self,
        deadline: Instant,
        cancel: Option<BorrowedFd<'_>>,
    ) -> io::Result<usize> {
        let tls = self.tls.as_mut().expect("TLS connection");
        loop {
            ready(&self.sock, PollFlags::IN, cancel, deadline)?;
            match tls.read_tls(&mut &self.sock) {
                Ok(n) => {
                    if let Err(e) = tls.process_new_packets() {
                        // Tell the server why (an alert rustls queued), if it still listens.
                        let _ = tls.write_tls(&mut &self.sock);
                        return Err(tls_error(e));
                    }
                    return Ok(n);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Send all of `data` before `deadline`.
    pub(crate) fn write_all(&mut self, data: &[u8], deadline: Instant) -> io::Result<()> {
        if let Some(tls) = self.tls.as_mut() {
            tls.writer().write_all(data)?;
            return self.flush(deadline);
        }
        let mut rest = data;
        while !rest.is_empty() {
            match (&self.sock).write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready(&self.sock, PollFlags::OUT, None, deadline)?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Read some bytes before `deadline` (0 at the end of the connection); a readable
    /// `cancel` fd aborts with [`io::ErrorKind::Interrupted`].
    pub(crate) fn read(
        &mut self,
        out: &mut [u8],
        deadline: Instant,
        cancel: Option<BorrowedFd<'_>>,
    ) -> io::Result<usize> {
        if self.tls.is_none() {
            loop {
                ready(&self.sock, PollFlags::IN, cancel, deadline)?;
                match (&self.sock).read(out) {
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    r => return r,
                }
            }
        }
        let mut closed = false;
        loop {
            let tls = self.tls.as_mut().expect("TLS connection");
            match tls.reader().read(out) {
                Ok(n) => return Ok(n),
                // Closed without close_notify: the HTTP framing tells a cut-off answer.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && closed => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            self.flush(deadline)?;
            closed = self.read_records(deadline, cancel)? == 0;
        }
    }
}
