//! Logs of a supervised service: the supervisor's own lifecycle events, and the service's
//! output relayed to files (rotated), syslog or the journal.
//!
//! A supervisor must never be stopped by its log: a full pipe on the standard error, a hung
//! syslog daemon or a full disk cost a dropped line, counted and reported on the next line
//! that gets through (`dropped=N`), never a blocked loop. That is why this is a small line
//! writer of its own and not a logging crate: every write is non-blocking, and nothing here
//! starts a thread ([`stream`] says how a shared standard error is written without blocking).
//!
//! - [`Record`] is one event (a name, a [`Level`], fields); [`Format`] renders it as `text`,
//!   `logfmt` or `json`.
//! - [`Dest`] is the destination grammar (`stderr`, `none`, a path, `syslog:daemon.notice`,
//!   `journal`); [`Sink`] is one opened destination with its framing ([`syslog`], [`journal`]).
//! - [`Log`] is the set of sinks a supervisor writes to; [`LifecycleLog`] turns what a
//!   supervisor sees into its events, and watches the loop as its
//!   [`Observer`](crate::supervise::Observer).
//! - [`Relay`] moves the service's output from pipes to files, rotated ([`Rotation`],
//!   `--output-max`), or to sinks, from inside the supervision loop; the lifecycle log
//!   carries it, so that the loop has one observer.
//!
//! ```
//! use pidward::log::{Dest, Format, Level, Log, Record};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("life.log");
//! let mut log = Log::open(&[Dest::File(path.clone())], 0o640)?.format(Some(Format::Json)).tag("app");
//! log.write(&Record::new(Level::Info, "spawned").field("pid", 4301u32));
//! let line = std::fs::read_to_string(&path)?;
//! assert!(line.ends_with("\"event\":\"spawned\",\"tag\":\"app\",\"pid\":4301}\n"), "{line}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;

mod dest;
mod format;
pub mod journal;
mod lifecycle;
mod record;
mod relay;
mod rotate;
mod sink;
pub mod stream;
pub mod syslog;

pub use dest::{Dest, JOURNAL_SOCKET, SYSLOG_SOCKET};
pub use format::Format;
pub use lifecycle::LifecycleLog;
pub use record::{Level, Record, Value};
pub use relay::{BATCH, Relay, RelayOptions, Streams};
pub use rotate::{DEFAULT_KEEP, LINE_MAX, MAX_KEEP, Rotation};
pub use sink::Sink;
pub use stream::open_output;

/// A destination that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{dest}: {source}")]
pub struct OpenError {
    /// The destination, as messages name it.
    pub dest: String,
    /// Why.
    #[source]
    pub source: io::Error,
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::Stderr => f.write_str("stderr"),
            Dest::None => f.write_str("none"),
            Dest::File(p) => write!(f, "{}", p.display()),
            Dest::Syslog { socket, .. } => write!(f, "syslog socket {}", socket.display()),
            Dest::Journal { socket } => write!(
                f,
                "journal socket {}",
                socket
                    .as_deref()
                    .unwrap_or(JOURNAL_SOCKET.as_ref())
                    .display()
            ),
        }
    }
}

/// The sinks a supervisor writes its records to, with a format, a level and a tag.
#[derive(Debug)]
pub struct Log {
    sinks: Vec<(Dest, Sink)>,
    format: Option<Format>,
    level: Level,
    tag: String,
    pid: u32,
    /// The format of `stderr` when none is set, decided once, when it was opened.
    stderr_format: Format,
}

impl Log {
    /// Opens every destination (a new file gets `mode`). If one fails, the files the others
    /// created are removed again: a start that fails leaves nothing behind.
    pub fn open(dests: &[Dest], mode: u32) -> Result<Log, OpenError> {
        let mut sinks: Vec<(Dest, Sink)> = Vec::with_capacity(dests.len());
        for dest in dests {
            match Sink::open(dest, mode) {
                Ok(sink) => sinks.push((dest.clone(), sink)),
                Err(source) => {
                    Log::take_back(sinks);
                    return Err(OpenError {
                        dest: dest.to_string(),
                        source,
                    });
                }
            }
        }
        Ok(Log {
            sinks,
            format: None,
            level: Level::Info,
            tag: "pidward".into(),
            pid: std::process::id(),
            stderr_format: stderr_format(dests),
        })
    }

    /// Removes the files these sinks created (if they still name what was created).
    fn take_back(sinks: Vec<(Dest, Sink)>) {
        for (dest, sink) in sinks {
            if let (Dest::File(path), Some(_)) = (&dest, &sink.created) {
                drop(sink);
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// The format (`None`, the default: `text` for a standard error that is a terminal,
    /// `logfmt` everywhere else).
    pub fn format(mut self, format: Option<Format>) -> Log {
        self.format = format;
        self
    }

    /// The least severe level written (default: [`Level::Info`]).
    pub fn level(mut self, level: Level) -> Log {
        self.level = level;
        self
    }

    /// The tag of every line, and the syslog identifier (default: `pidward`).
    pub fn tag(mut self, tag: impl Into<String>) -> Log {
        self.tag = tag.into();
        self
    }

    /// The tag.
    pub fn get_tag(&self) -> &str {
        &self.tag
    }

    /// Whether a record of `level` would be written anywhere.
    pub fn enabled(&self, level: Level) -> bool {
        level <= self.level && self.sinks.iter().any(|(_, s)| !s.is_none())
    }

    /// Writes `record` to every sink, if its level is enabled.
    pub fn write(&mut self, record: &Record) {
        if !self.enabled(record.level) {
            return;
        }
        // Taken once per record: the pid changes when a detached process writes.
        self.pid = std::process::id();
        for (dest, sink) in &mut self.sinks {
            let format = match (self.format, dest) {
                (Some(format), _) => format,
                (None, Dest::Stderr) => self.stderr_format,
                (None, _) => Format::Logfmt,
            };
            sink.record(record, format, &self.tag, self.pid);
        }
    }

    /// Opens every file again at its path (after a rotation moved it away); the first error.
    pub fn reopen(&mut self) -> Result<(), OpenError> {
        let mut first = Ok(());
        for (dest, sink) in &mut self.sinks {
            if let Err(source) = sink.reopen()
                && first.is_ok()
            {
                first = Err(OpenError {
                    dest: dest.to_string(),
                    source,
                });
            }
        }
        first
    }

    /// The descriptors a detached process must keep open.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.sinks.iter().filter_map(|(_, s)| s.as_fd()).collect()
    }

    /// Removes the files this log created, for a start that failed before it began.
    pub fn discard(self) {
        Log::take_back(self.sinks);
    }

    /// Lines dropped and not yet reported, over all sinks.
    pub fn dropped(&self) -> u64 {
        self.sinks.iter().map(|(_, s)| s.dropped()).sum()
    }

    /// Every line dropped since the sinks were opened.
    pub fn dropped_total(&self) -> u64 {
        self.sinks.iter().map(|(_, s)| s.total_dropped()).sum()
    }
}

/// The default format of `stderr` among `dests`: `text` for a standard error that is a
/// terminal, `logfmt` otherwise (and for every other destination).
fn stderr_format(dests: &[Dest]) -> Format {
    // SAFETY: isatty(3) on descriptor 2 only asks.
    if dests.contains(&Dest::Stderr) && unsafe { libc::isatty(2) } == 1 {
        Format::Text
    } else {
        Format::Logfmt
    }
}
