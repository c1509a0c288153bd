//! The owner record: `PID\nhost=HOST\ntime=RFC3339\n`, written once into an empty file.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::SystemTime;

use super::{Error, Malformed, Step};
use crate::liveness::{self, ProcessInfo};
use crate::pidfile;

/// Who holds a lock file, as recorded in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The owner's PID (on `host`).
    pub pid: u32,
    /// When the lock was acquired (UTC, millisecond precision).
    pub time: SystemTime,
    /// The host name of the owner.
    pub host: String,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PID {} on host {} since {}",
            self.pid,
            self.host,
            crate::time::Rfc3339(self.time)
        )
    }
}

/// The most of a lock file we read: a record is well under this.
pub(super) const MAX_RECORD: usize = 4096;

pub(super) fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

/// Read the record of any lock file: `None` if there is no file or it is empty (an owner
/// between locking and writing, or a lock file that records nothing).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("job.lock");
/// assert_eq!(pidward::lockfile::read(&path)?, None);
/// std::fs::write(&path, "4242\nhost=build-7\ntime=2026-11-22T13:21:31.123Z\n")?;
/// assert_eq!(pidward::lockfile::read(&path)?.unwrap().host, "build-7");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read(path: impl AsRef<Path>) -> Result<Option<Owner>, Error> {
    let path = path.as_ref();
    let bytes = match pidfile::read_start(path, MAX_RECORD) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(None),
        Err(e) => return Err(from_reader(path, e)),
    };
    if bytes.is_empty() {
        return Ok(None);
    }
    parse(&bytes).map(Some).map_err(|problem| Error::Malformed {
        path: path.to_owned(),
        problem,
    })
}

/// The PID-file reader's error, in this module's terms (the same condition, the same variant).
pub(super) fn from_reader(path: &Path, e: pidfile::Error) -> Error {
    match e {
        pidfile::Error::NotRegular { what, .. } => Error::NotRegular {
            path: path.to_owned(),
            what,
        },
        pidfile::Error::Invalid { reason, .. } => Error::Malformed {
            path: path.to_owned(),
            problem: Malformed::Pid(reason),
        },
        pidfile::Error::Io { step, source, .. } => Error::Io {
            path: path.to_owned(),
            step: match step {
                pidfile::Step::Open => Step::Open,
                pidfile::Step::Stat => Step::Stat,
                _ => Step::Read,
            },
            source,
        },
        pidfile::Error::NotFound { .. } => Error::Io {
            path: path.to_owned(),
            step: Step::Open,
            source: io::Error::from_raw_os_error(libc::ENOENT),
        },
        other => Error::Io {
            path: path.to_owned(),
            step: Step::Read,
            source: io::Error::other(other),
        },
    }
}

/// A record of this host whose owner is dead (or a reused PID). Other hosts' records are never
/// stale from here.
pub(super) fn is_stale(owner: &Owner) -> bool {
    if owner.host != hostname() {
        return false;
    }
    if !liveness::probe(owner.pid).is_alive() {
        return true;
    }
    ProcessInfo::of(owner.pid)
        .map(|info| info.started_after(owner.time))
        .unwrap_or(true)
}

/// The start of an open lock file.
pub(super) fn read_all(file: &File) -> io::Result<Vec<u8>> {
    pidfile::read_prefix(file, MAX_RECORD)
}

/// Write our record into the (locked) file. Like a PID, the record is only ever written into
/// an empty file: bytes overwritten in place would be visible to readers one by one.
pub(super) fn write(file: &File, fresh: bool) -> io::Result<()> {
    let text = format!(
        "{}\nhost={}\ntime={}\n",
        std::process::id(),
        hostname(),
        crate::time::Rfc3339(SystemTime::now())
    );
    if !fresh {
        file.set_len(0)?;
    }
    file.write_all_at(text.as_bytes(), 0)
}

/// Parse a record.
pub(super) fn parse(bytes: &[u8]) -> Result<Owner, Malformed> {
    if bytes.len() >= MAX_RECORD {
        return Err(Malformed::TooLong(MAX_RECORD));
    }
    let pid = pidfile::parse(bytes, liveness::pid_max()).map_err(Malformed::Pid)?;
    let text = std::str::from_utf8(bytes).map_err(|_| Malformed::NotUtf8)?;
    let mut host = None;
    let mut time = None;
    for line in text.lines().skip(1) {
        match line.split_once('=') {
            Some(("host", h)) if !h.trim().is_empty() => host = Some(h.trim().to_owned()),
            Some(("time", t)) => {
                let parsed = crate::time::parse_rfc3339(t);
                time = Some(parsed.map_err(|_| Malformed::BadTime(t.to_owned()))?);
            }
            _ => {}
        }
    }
    Ok(Owner {
        pid,
        host: host.ok_or(Malformed::NoHost)?,
        time: time.ok_or(Malformed::NoTime)?,
    })
}
