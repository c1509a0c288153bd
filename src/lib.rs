//! pidward: the lifecycle of long-running Unix processes, done correctly.
//!
//! Programs that run for a long time need four things, and pidward gives each a form that
//! does not break under races, PID reuse or permissions:
//!
//! 1. **Single-instance guards**: [`PidFile`](pidfile::PidFile) and
//!    [`LockFile`](lockfile::LockFile), both on one kernel-locked primitive ([`flock`]).
//! 2. **Starting services**: [`daemon`], [`privileges`], [`notify`] and [`supervise`].
//! 3. **Status and stop**: [`pidfile::status`] (LSB codes), [`stop`] schedules over a
//!    [`pidfd`], and [`Signal`] names.
//! 4. **Async child processes**: `process` (feature `process`, on tokio).
//!
//! The binary `pidward` (`run`, `lock`, `status`, `stop`, `notify`) is this library's first
//! user: every command is a thin layer over these modules.
//!
//! # The rules everything here keeps
//!
//! * **The lock is the liveness signal.** A PID file is locked with flock(2) by its owner for
//!   the owner's whole life: locked means alive, unlocked means stale, whatever PID it names.
//!   Files of programs that take no lock are judged by [`liveness`]: `kill(pid, 0)` with
//!   EPERM meaning alive, a zombie meaning dead, a process younger than the file meaning the
//!   PID was reused.
//! * **Open, lock, verify; then write.** No `O_TRUNC`, no symlinks, no FIFOs; the path must
//!   still name the inode we locked. A failed acquirer never truncates, rewrites or unlinks.
//! * **Remove only what is yours. Never signal a bare PID** (a [`pidfd`] pins the process).
//! * **Fork before threads; after fork, async-signal-safe only.**
//!
//! # Is it already running?
//!
//! ```
//! use pidward::pidfile::{self, PidFile, Status};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.pid");
//! let guard = PidFile::acquire(&path)?;
//! match PidFile::acquire(&path) {
//!     Err(pidfile::Error::AlreadyRunning { pid, .. }) => {
//!         assert_eq!(pid, Some(std::process::id()))
//!     }
//!     other => panic!("two holders: {other:?}"),
//! }
//! assert_eq!(pidfile::status(&path).lsb_code(), 0);
//! drop(guard); // removes the file: it is still ours
//! assert!(matches!(pidfile::status(&path), Status::Absent));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Who holds the lock?
//!
//! ```
//! use pidward::lockfile::{self, LockFile};
//!
//! let dir = tempfile::tempdir()?;
//! let lock = LockFile::acquire(dir.path().join("cache.lock"))?;
//! let owner = lockfile::read(lock.path())?.unwrap();
//! let since = pidward::time::Rfc3339(owner.time);
//! println!("held by PID {} on {} since {since}", owner.pid, owner.host);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Start it, supervise it
//!
//! [`daemon::Daemon`] detaches a program that starts itself (double fork, status pipe, set-up
//! steps, privilege drop), reporting success or the failed step to the invoking process.
//! [`supervise::Supervisor`] runs a command as its parent, forwarding signals through a pidfd
//! and reaping orphans, in a poll loop with no async runtime:
//!
//! ```
//! use pidward::child::{Exec, Setup};
//! use pidward::supervise::{exit_code, Supervisor};
//!
//! let child = Supervisor::new()
//!     .spawn_exec(Setup::new(), Exec::new("sh").args(["-c", "exit 23"]))?;
//! assert_eq!(exit_code(child.wait()?), 23);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A service declares readiness to whoever started it (`pidward run --ready notify`, or
//! systemd) with [`notify::ready`]; started by nobody who listens, it is told so:
//!
//! ```
//! // No NOTIFY_SOCKET and no notify-fd here: nobody was told, and that is no error.
//! # unsafe { std::env::remove_var("NOTIFY_SOCKET") };
//! assert!(!pidward::notify::ready()?);
//! # Ok::<(), pidward::notify::Error>(())
//! ```
//!
//! # Drive a child from async code
//!
//! With the `process` feature, `pidward::process::Command` spawns children on tokio with
//! `tokio::process`'s API (`output`, `status`, `spawn`, `wait_with_output`, `AsyncRead` and
//! `AsyncWrite` pipes) plus what Twisted's transport adds: any fd map, backpressured writes,
//! pausable readers, one event stream (a `futures_core::Stream`), pidfd signals and an exact
//! exit reason; see the module for more, with a "coming from tokio" and a "coming from
//! Twisted" table:
//!
//! ```
//! # #[cfg(feature = "process")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), pidward::process::Error> {
//! let out = pidward::process::Command::new("sh")
//!     .args(["-c", "echo hi; exit 3"])
//!     .output()
//!     .await?;
//! assert_eq!(out.stdout, b"hi\n");
//! assert_eq!(out.status.code(), Some(3));
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "process"))]
//! # fn main() {}
//! ```
//!
//! # Stop it
//!
//! ```
//! use pidward::stop::{stop, Options, Outcome, Schedule};
//! use pidward::Signal;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("worker.pid");
//! let worker = std::process::Command::new("sleep").arg("60").spawn()?;
//! std::fs::write(&path, format!("{}\n", worker.id()))?;
//! let opts = Options {
//!     schedule: Schedule::parse("TERM/5/KILL/5", Signal::TERM)?,
//!     ..Options::default()
//! };
//! assert!(matches!(stop(&path, &opts)?, Outcome::Stopped { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod child;
#[cfg(feature = "etcd")]
pub mod cluster;
pub mod daemon;
pub mod flock;
#[cfg(feature = "test-helpers")]
#[doc(hidden)]
pub mod fuzzing;
pub mod liveness;
pub mod lockfile;
pub mod log;
pub mod notify;
pub mod pidfd;
pub mod pidfile;
pub mod privileges;
#[cfg(feature = "process")]
pub mod process;
pub mod signal;
pub mod stop;
pub mod supervise;
mod sys;
pub mod time;

pub use signal::Signal;
