//! A blocking HTTP/1.1 client for one thing: `POST` a JSON body to etcd's gateway and read the
//! answer, every step bounded by a deadline.
//!
//! etcd's gRPC gateway answers unary calls with a `Content-Length` body and streaming calls
//! (`/v3/watch`, `/v3/lease/keepalive`) with a chunked body of newline-separated JSON objects.
//! Both are read here, over a [`Conn`] (plain TCP or TLS, `conn.rs`), one connection per call
//! (`Connection: close`): a lock takes a handful of calls, and a fresh connection is also the
//! fastest way to notice that an endpoint is gone.
//!
//! Every wait is a `poll(2)` on the socket and, optionally, on a *cancel* descriptor (the
//! lease keeper's "lost" pipe), so that a waiter stops at once when its lease is lost, and
//! nothing ever blocks past its deadline: a frozen server costs at most the time the caller
//! allowed.

use std::io::{self, Read};
use std::os::fd::BorrowedFd;
use std::time::Instant;

use super::conn::Conn;
use super::endpoint::Endpoint;

/// An answer's status and its body reader.
pub(crate) struct Response<'a> {
    pub(crate) status: u16,
    body: Body<'a>,
}

/// How the body is framed.
enum Framing {
    Length(usize),
    Chunked { left: usize, done: bool },
    UntilClose,
}

/// The connection, buffered, with the deadline and cancel fd every read obeys.
struct Body<'a> {
    conn: Conn,
    buf: Vec<u8>,
    pos: usize,
    framing: Framing,
    deadline: Instant,
    cancel: Option<BorrowedFd<'a>>,
}

/// `POST path` with a JSON body to `ep` on `conn` (and etcd's auth `token` as
/// `Authorization`), sending and reading the header before `deadline`; a readable `cancel`
/// fd aborts with [`io::ErrorKind::Interrupted`].
pub(crate) fn post<'a>(
    mut conn: Conn,
    ep: &Endpoint,
    path: &str,
    body: &[u8],
    token: Option<&str>,
    deadline: Instant,
    cancel: Option<BorrowedFd<'a>>,
) -> io::Result<Response<'a>> {
    let auth = token.map_or(String::new(), |t| format!("Authorization: {t}\r\n"));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\n\
         {auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        ep.host,
        ep.port,
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    conn.write_all(&request, deadline)?;
    let mut body = Body {
        conn,
        buf: Vec::with_capacity(4096),
        pos: 0,
        framing: Framing::UntilClose,
        deadline,
        cancel,
    };
    let (status, framing) = body.read_head()?;
    body.framing = framing;
    Ok(Response { status, body })
}

fn bad(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Response<'_> {
    /// The whole body (unary calls).
    pub(crate) fn read_all(mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.body.read_to_end(&mut out)?;
        Ok(out)
    }

    /// The next newline-terminated message of a streaming body; `None` at its end.
    pub(crate) fn next_message(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match self.body.read(&mut byte)? {
                0 if line.iter().all(u8::is_ascii_whitespace) => return Ok(None),
                0 => return Ok(Some(line)),
                _ if byte[0] == b'\n' && !line.iter().all(u8::is_ascii_whitespace) => {
                    return Ok(Some(line));
                }
                _ if byte[0] == b'\n' => line.clear(),
                _ => line.push(byte[0]),
            }
        }
    }
}

impl Body<'_> {
    /// Make bytes available in the buffer, waiting at most until the deadline; `Ok(false)` at
    /// the end of the connection.
    fn fill(&mut self) -> io::Result<bool> {
        if self.pos < self.buf.len() {
            return Ok(true);
        }
        self.buf.resize(8192, 0);
        self.pos = 0;
        let n = self.conn.read(&mut self.buf, self.deadline, self.cancel);
        let n = n.inspect_err(|_| self.buf.clear())?;
        self.buf.truncate(n);
        Ok(n > 0)
    }

    fn raw_byte(&mut self) -> io::Result<Option<u8>> {
        if !self.fill()? {
            return Ok(None);
        }
        self.pos += 1;
        Ok(Some(self.buf[self.pos - 1]))
    }

    /// One CRLF-terminated header line, without its terminator.
    fn line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        loop {
            match self.raw_byte()? {
                None => return Err(bad("connection closed inside the HTTP header")),
                Some(b'\n') => break,
                Some(b) if line.len() < 8192 => line.push(b),
                Some(_) => return Err(bad("HTTP header line too long")),
            }
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8(line).map_err(|_| bad("HTTP header is not UTF-8"))
    }

    /// The status line and the headers that frame the body.
    fn read_head(&mut self) -> io::Result<(u16, Framing)> {
        let status_line = self.line()?;
        let status = status_line
            .strip_prefix("HTTP/1.")
            .and_then(|s| s.get(2..5))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("not an HTTP/1.x status line"))?;
        let mut framing = Framing::UntilClose;
        loop {
            let line = self.line()?;
            if line.is_empty() {
                return Ok((status, framing));
            }
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                let n = value.parse().map_err(|_| bad("bad Content-Length"))?;
                framing = Framing::Length(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.eq_ignore_ascii_case("chunked")
            {
                framing = Framing::Chunked {
                    left: 0,
                    done: false,
                };
            }
        }
    }

    /// Copy buffered bytes, at most `max`.
    fn take(&mut self, out: &mut [u8], max: usize) -> io::Result<usize> {
        if !self.fill()? {
            return Ok(0);
        }
        let n = out.len().min(max).min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Read for Body<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self.framing {
            Framing::UntilClose => self.take(out, usize::MAX),
            Framing::Length(0) => Ok(0),
            Framing::Length(left) => {
                let n = self.take(out, left)?;
                if n == 0 {
                    return Err(bad("connection closed inside the HTTP body"));
                }
                self.framing = Framing::Length(left - n);
                Ok(n)
            }
            Framing::Chunked { done: true, .. } => Ok(0),
            Framing::Chunked { left: 0, .. } => {
                let mut size = self.line()?;
                if size.is_empty() {
                    // The CRLF that ends the previous chunk.
                    size = self.line()?;
                }
                let hex = size.split(';').next().unwrap_or("").trim();
                let n = usize::from_str_radix(hex, 16).map_err(|_| bad("bad chunk size"))?;
                self.framing = Framing::Chunked {
                    left: n,
                    done: n == 0,
                };
                if n == 0 { Ok(0) } else { self.read(out) }
            }
            Framing::Chunked { left, .. } => {
                let n = self.take(out, left)?;
                if n == 0 {
                    return Err(bad("connection closed inside an HTTP chunk"));
                }
                self.framing = Framing::Chunked {
                    left: left - n,
                    done: false,
                };
                Ok(n)
            }
        }
    }
}
