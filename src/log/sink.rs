//! [`Sink`]: one opened [`Dest`], writing records (the lifecycle log) or the service's lines
//! (the output relay) in the destination's framing, never blocking, counting what it drops.
//!
//! Opening checks what can be checked before anything starts: a file is opened (and so must
//! be creatable, a regular file, not a symbolic link), a syslog or journal socket must exist
//! and be a socket. Datagrams are sent with `sendto(2)` on an unconnected, non-blocking
//! socket, so that a syslog daemon that restarts is found again at the next line, and one
//! that is hung (its queue full: `EAGAIN`) costs a dropped line, not a stalled supervisor.
//! The standard error is taken as it is at the first line (a detached process has its own by
//! then).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use super::dest::{DAEMON, JOURNAL_SOCKET};
use super::record::{Record, Value};
use super::stream::{Stream, stderr_is_journal};
use super::{Dest, Format, journal, syslog};

/// PIPE_BUF: the largest write a pipe takes whole or not at all.
const PIPE_BUF: usize = 4096;

/// A datagram socket and where it sends.
#[derive(Debug)]
pub(crate) struct Datagram {
    socket: UnixDatagram,
    to: PathBuf,
}

impl Datagram {
    fn open(to: &Path) -> io::Result<Datagram> {
        let meta = std::fs::metadata(to)?;
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a socket"));
        }
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(Datagram {
            socket,
            to: to.to_owned(),
        })
    }

    /// `sendto(2)`, without blocking; `false` when it was not sent.
    fn send(&self, bytes: &[u8]) -> bool {
        loop {
            match self.socket.send_to(bytes, &self.to) {
                Ok(_) => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }
}

/// How a sink frames and sends.
#[derive(Debug)]
enum Kind {
    None,
    /// The standard error, opened at the first line.
    Stderr(Option<Stream>),
    File(Stream),
    Syslog {
        to: Datagram,
        facility: u8,
        severity: Option<u8>,
        rfc5424: bool,
        host: String,
    },
    Journal(Datagram),
    /// `journal` under systemd: `<N>` lines on the standard error.
    JournalStream(Option<Stream>),
}

/// One destination, opened (module docs).
#[derive(Debug)]
pub struct Sink {
    kind: Kind,
    dropped: u64,
    /// Every line dropped since the sink was opened.
    total: u64,
    /// A file this open created (taken back if the start fails).
    pub(crate) created: Option<PathBuf>,
}

impl Sink {
    /// Opens `dest`; a new file gets `mode`. The error says what is wrong, not where: the
    /// caller names the destination.
    pub fn open(dest: &Dest, mode: u32) -> io::Result<Sink> {
        let mut created = None;
        let kind = match dest {
            Dest::None => Kind::None,
            Dest::Stderr => Kind::Stderr(None),
            Dest::File(path) => {
                let (stream, new) = Stream::file(path, mode)?;
                if new {
                    created = Some(path.clone());
                }
                Kind::File(stream)
            }
            Dest::Syslog {
                facility,
                severity,
                rfc5424,
                socket,
            } => Kind::Syslog {
                to: Datagram::open(socket)?,
                facility: *facility,
                severity: *severity,
                rfc5424: *rfc5424,
                host: if *rfc5424 {
                    syslog::hostname()
                } else {
                    String::new()
                },
            },
            Dest::Journal { socket: Some(s) } => Kind::Journal(Datagram::open(s)?),
            Dest::Journal { socket: None } if stderr_is_journal() => Kind::JournalStream(None),
            Dest::Journal { socket: None } => {
                Kind::Journal(Datagram::open(Path::new(JOURNAL_SOCKET))?)
            }
        };
        Ok(Sink {
            kind,
            dropped: 0,
            total: 0,
            created,
        })
    }

    /// How many lines were dropped since the last one that got through.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Every line dropped since the sink was opened.
    pub fn total_dropped(&self) -> u64 {
        self.total
    }

    /// Whether this sink writes bytes as they are (the standard error), where a line can
    /// carry a timestamp of its own.
    pub fn is_stream(&self) -> bool {
        matches!(self.kind, Kind::Stderr(_))
    }

    /// Whether this sink writes nothing.
    pub fn is_none(&self) -> bool {
        matches!(self.kind, Kind::None)
    }

    /// The descriptor a detached process must keep open, if any.
    pub fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.kind {
            Kind::File(s) => Some(s.as_fd()),
            Kind::Syslog { to, .. } | Kind::Journal(to) => Some(to.socket.as_fd()),
            _ => None,
        }
    }

    /// Opens a file sink's path again (after a rotation).
    pub fn reopen(&mut self) -> io::Result<()> {
        match &mut self.kind {
            Kind::File(s) => s.reopen(),
            _ => Ok(()),
        }
    }

    /// Writes one lifecycle record, unless the sink's own level (`syslog:FAC.LEVEL`) is
    /// more severe than the record's. A line that gets through after drops says how many.
    pub fn record(&mut self, record: &Record, format: Format, tag: &str, pid: u32) {
        let mut extra = Vec::new();
        if self.dropped > 0 {
            extra.push(("dropped", Value::Int(self.dropped as i64)));
        }
        let sent = match &mut self.kind {
            Kind::None => true,
            Kind::Stderr(s) => {
                let line = format.line(record, tag, false, &extra);
                stream(s).is_some_and(|s| s.write(&fit(s, line.as_bytes())))
            }
            Kind::File(s) => s.write(format.line(record, tag, false, &extra).as_bytes()),
            Kind::JournalStream(s) => {
                let line = format!(
                    "<{}>{}",
                    record.level.severity(),
                    format.line(record, tag, true, &extra)
                );
                stream(s).is_some_and(|s| s.write(&fit(s, line.as_bytes())))
            }
            Kind::Syslog {
                to,
                facility,
                severity,
                rfc5424,
                host,
            } => {
                if severity.is_some_and(|max| record.level.severity() > max) {
                    return;
                }
                let pri = *facility * 8 + record.level.severity();
                let body = format.line(record, tag, true, &extra);
                let datagram = if *rfc5424 {
                    syslog::rfc5424(pri, record.time, host, tag, pid, record.event, &body)
                } else {
                    syslog::rfc3164(pri, record.time, tag, pid, &body)
                };
                to.send(&datagram)
            }
            Kind::Journal(to) => {
                let message = format.line(record, tag, true, &extra);
                to.send(&journal::entry(record, &message, tag, DAEMON, pid, &extra))
            }
        };
        self.count(sent);
    }

    /// Writes one line of the service's output (with its newline) from `stream` (`stdout` or
    /// `stderr`), with `severity` unless the destination gave its own. Files and the standard
    /// error get the bytes as they are. After drops, the line that gets through is preceded
    /// by `pidward: N lines dropped` (a datagram of its own for syslog; the journal has the
    /// `PIDWARD_DROPPED` field instead).
    pub fn line(&mut self, line: &[u8], stream_name: &str, severity: u8, tag: &str, pid: u32) {
        let notice = (self.dropped > 0)
            .then(|| format!("pidward: {} lines dropped\n", self.dropped).into_bytes());
        let with_notice = |line: &[u8]| match &notice {
            Some(n) => [&n[..], line].concat(),
            None => line.to_vec(),
        };
        let sent = match &mut self.kind {
            Kind::None => true,
            Kind::Stderr(s) => stream(s).is_some_and(|s| s.write(&fit(s, &with_notice(line)))),
            Kind::File(s) => s.write(&with_notice(line)),
            Kind::JournalStream(s) => {
                let mut buf = Vec::new();
                if let Some(n) = &notice {
                    buf.extend_from_slice(b"<4>");
                    buf.extend_from_slice(n);
                }
                buf.extend_from_slice(format!("<{severity}>").as_bytes());
                buf.extend_from_slice(line);
                stream(s).is_some_and(|s| s.write(&fit(s, &buf)))
            }
            Kind::Syslog {
                to,
                facility,
                severity: own,
                rfc5424,
                host,
            } => {
                let now = std::time::SystemTime::now();
                let frame = |pri: u8, body: &[u8]| {
                    let body = String::from_utf8_lossy(body);
                    if *rfc5424 {
                        syslog::rfc5424(pri, now, host, tag, pid, stream_name, &body)
                    } else {
                        syslog::rfc3164(pri, now, tag, pid, &body)
                    }
                };
                let told = notice
                    .as_ref()
                    .is_none_or(|n| to.send(&frame(*facility * 8 + 4, n)));
                told && to.send(&frame(*facility * 8 + own.unwrap_or(severity), line))
            }
            Kind::Journal(to) => {
                let mut e = Vec::with_capacity(line.len() + 128);
                journal::header(&mut e, line, severity, tag, DAEMON, pid);
                journal::field(&mut e, "PIDWARD_STREAM", stream_name.as_bytes());
                if self.dropped > 0 {
                    journal::field(
                        &mut e,
                        "PIDWARD_DROPPED",
                        self.dropped.to_string().as_bytes(),
                    );
                }
                to.send(&e)
            }
        };
        self.count(sent);
    }

    fn count(&mut self, sent: bool) {
        if sent {
            self.dropped = 0;
        } else {
            self.dropped += 1;
            self.total += 1;
        }
    }
}

/// The standard error stream, opened at first use.
fn stream(slot: &mut Option<Stream>) -> Option<&Stream> {
    if slot.is_none() {
        *slot = Stream::stderr().ok();
    }
    slot.as_ref()
}

/// A line cut to what a pipe takes in one piece, still ending in a newline: a cut line is
/// better than one split by another writer's.
fn fit<'a>(s: &Stream, line: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
    if !s.small || line.len() <= PIPE_BUF {
        return line.into();
    }
    let mut cut = line[..PIPE_BUF - 1].to_vec();
    cut.push(b'\n');
    cut.into()
}
