//! Async child processes on tokio, with everything Twisted's process transport offers.
//!
//! [`Command`] describes a child: program and arguments (any bytes but NUL), environment
//! (inherited, exact, or inherited plus changes), working directory, user, group and
//! supplementary groups, process group or session, umask, resource limits, and a **map of child
//! fds** ([`ChildFd`]): any fd number can be a pipe the parent writes, a pipe the parent reads,
//! one of the parent's fds, `/dev/null` or a file. Everything else is closed in the child, which
//! also starts with default signal dispositions and an empty signal mask.
//!
//! [`Command::spawn`] returns a [`Child`] once the program is running, or the failed step and
//! its OS error ([`Error::Spawn`]), so a missing program is `NotFound` from `spawn`, not a child
//! that exits 127. The handle then offers:
//!
//! * **Writing** to any writable child fd with backpressure: [`Child::write_all`],
//!   [`Child::write_sequence`] (vectored), [`Child::write_to`]. A fd that is not a pipe the
//!   parent writes is [`Error::NotWritable`]; a child that closed its end gives `BrokenPipe`,
//!   and the parent never gets `SIGPIPE`, whatever its disposition.
//! * **Reading** each output pipe as an [`AsyncRead`](tokio::io::AsyncRead) or a stream of
//!   chunks ([`ChildReader`]), or everything at once as one stream of [`Event`]s
//!   ([`Child::next_event`]): `Data`, `Closed`, `Exited`, then `Ended` once the child is reaped
//!   *and* its pipes are closed. [`Child::pause`] stops reading an fd (the child blocks on the
//!   full pipe), which keeps memory bounded with a fast child and a slow consumer.
//! * **Closing** stdin, stdout, stderr, any fd, or all of them.
//! * **Signals** by [`Signal`](crate::Signal), through a pidfd, so they never reach a recycled
//!   PID; after the child was reaped, [`Error::ProcessExitedAlready`] and no signal at all.
//! * **Exit reasons**: [`ExitReason`], "exit code 23" or "killed by signal 15".
//! * **Clean-up**: kill-on-drop, signals to the whole process group, and a handle that never
//!   leaves a zombie behind when dropped.
//!
//! # Async child processes
//!
//! A request/response conversation with a long-lived child:
//!
//! ```
//! use pidward::process::{Command, Error};
//! use tokio::io::{AsyncBufReadExt, BufReader};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let mut child = Command::new("sh").spawn()?;
//! let mut replies = BufReader::new(child.take_stdout().unwrap()).lines();
//! for n in 1..=3 {
//!     child.write_all(format!("echo $(({n} * 7))\n").as_bytes()).await?;
//!     let line = replies.next_line().await?.unwrap();
//!     assert_eq!(line, (n * 7).to_string());
//! }
//! child.close_stdin(); // sh reads EOF and exits
//! assert!(child.wait().await?.success());
//! # Ok(())
//! # }
//! ```
//!
//! Twisted style, with extra fds and one event stream:
//!
//! ```
//! use pidward::process::{ChildFd, Command, Event};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), pidward::process::Error> {
//! let mut child = Command::new("sh")
//!     .args(["-c", "read line <&3; echo \"got $line\" >&4"])
//!     .fd(3, ChildFd::Input)
//!     .fd(4, ChildFd::Output)
//!     .spawn()?;
//! child.write_to(3, b"ping\n").await?;
//! let mut got = Vec::new();
//! while let Some(event) = child.next_event().await? {
//!     match event {
//!         Event::Data { fd: 4, data } => got.extend(data),
//!         Event::Ended(reason) => assert!(reason.success()),
//!         _ => {}
//!     }
//! }
//! assert_eq!(got, b"got ping\n");
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! Children are started by the child set-up engine ([`crate::child::spawn`]:
//! `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)`, the technique of `posix_spawn` plus the
//! steps it lacks), and reaped through their pidfd
//! registered with tokio's reactor: one reaping regime, no `SIGCHLD` handler. A pipe grows to
//! 1 MiB (`F_SETPIPE_SZ`, best effort) once it proves busy, and data moves in large reads and
//! vectored writes. Linux 5.4 or later is required (pidfds with `waitid(P_PIDFD)`).
//!
//! A program that sets `SIGCHLD` to `SIG_IGN` asks the kernel to reap all its children itself;
//! exit reasons are then unavailable (waiting fails with `ECHILD`).

mod child;
mod command;
mod error;
mod events;
mod exit;
mod fdmap;
mod io;
mod pidfd;
mod pipes;
mod reaper;
mod sigpipe;
mod spawn;

pub use child::Child;
pub use command::{Command, DEFAULT_PIPE_SIZE};
pub use error::Error;
pub use events::Event;
pub use exit::ExitReason;
pub use fdmap::ChildFd;
pub use io::{ChildReader, ChildWriter};
