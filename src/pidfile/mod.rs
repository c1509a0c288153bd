//! `PidFile`: an exclusive, kernel-locked PID file.
//!
//! A PID file answers "is this program already running?". The classic answer (write your PID,
//! and let others check whether that PID is alive) fails in three ways: the PID may have been
//! reused by an unrelated process, a process of another user answers `kill(pid, 0)` with EPERM,
//! and two starters can both find "no process" and both start. pidward's answer is the lock:
//!
//! * [`PidFile::acquire`] opens the file without truncating it, takes an exclusive flock(2),
//!   checks that the path still names the inode it locked ([`crate::flock`]), and only then
//!   writes `PID\n`. The lock lives as long as the guard (and any process that inherits its
//!   descriptor), and the kernel drops it when the holder dies, however it dies.
//! * A second acquirer fails with [`Error::AlreadyRunning`] naming the holder's PID, and never
//!   truncates, rewrites or unlinks the holder's file.
//! * Readers never see a partial PID. Bytes overwritten in place become visible to a
//!   concurrent `read(2)` one by one (a reader can catch `"32"` of `"32000"` written over
//!   `"7\n"`), but a file that *grows from empty* shows its new length only after the bytes
//!   are in place. So the PID is only ever written into an empty file: a new file is written
//!   with one `pwrite(2)` and no truncation at all (the common, fast path); a stale file taken
//!   over, or a PID rewritten, is first truncated to zero under the lock. Readers that find a
//!   locked, empty file wait briefly for the owner to finish writing (state "starting").
//! * Dropping the guard unlinks the file only if the path still names the inode we locked.
//!
//! [`read`] and [`status`] work on any PID file, pidward's or a foreign one (nginx-style, never
//! locked): for those, [`crate::liveness`] decides, with EPERM read as alive, zombies as dead
//! and a process younger than the file as a reused PID.
//! [`scan`] lists the PID files of a directory such as `/run` with their status, and
//! [`worst_lsb_code`] sums up a set of them (`pidward status DIR`).
//!
//! ```
//! use pidward::pidfile::{self, PidFile, Status};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.pid");
//! let guard = PidFile::acquire(&path)?;
//! assert_eq!(pidfile::read(&path)?, std::process::id());
//! assert!(matches!(pidfile::status(&path), Status::Running { locked: true, .. }));
//! assert!(matches!(
//!     PidFile::acquire(&path),
//!     Err(pidfile::Error::AlreadyRunning { pid: Some(p), .. }) if p == std::process::id()
//! ));
//! drop(guard);
//! assert!(matches!(pidfile::status(&path), Status::Absent));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cleanup;
mod dirs;
mod error;
mod guard;
mod options;
mod parse;
mod read;
mod scan;
mod status;
mod takeover;

pub use error::{Error, Step};
pub(crate) use guard::Held;
pub use guard::PidFile;
pub use options::Options;
pub(crate) use parse::parse_here;
pub use parse::{Invalid, parse};
pub use read::read;
pub(crate) use read::{open_for_reading, read_prefix, read_start};
pub use scan::{Entry, scan, worst_lsb_code};
pub(crate) use status::inspect;
pub use status::{Stale, Status, status};

use read::MAX_FIRST_LINE;
