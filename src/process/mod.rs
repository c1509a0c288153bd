//! Async child processes on tokio: `tokio::process`'s API, with everything Twisted's process
//! transport adds.
//!
//! [`Command`] describes a child: program, `argv[0]` and arguments (any bytes but NUL),
//! environment (inherited, exact, or inherited plus changes), working directory, user, group
//! and supplementary groups, process group or session, umask, resource limits (the types of
//! [`crate::child`], which [`Daemon`](crate::daemon::Daemon) uses too), and a **map of child
//! fds** ([`ChildFd`]): any fd number can be a pipe the parent writes, a pipe the parent reads,
//! one of the parent's fds, `/dev/null` or a file. Every other fd above 2 is closed in the
//! child, which also starts with default signal dispositions and an empty signal mask. As in
//! `std` and tokio, standard fds that are not mapped are inherited by [`Command::spawn`] and
//! [`Command::status`], and [`Command::output`] collects stdout and stderr;
//! [`Command::stdio_pipes`] gives Twisted's layout (pipes on 0, 1 and 2).
//!
//! [`Command::spawn`] returns a [`Child`] once the program is running, or the failed step and
//! its OS error ([`Error::Spawn`]), so a missing program is `NotFound` from `spawn`, not a child
//! that exits 127. The handle then offers:
//!
//! * **One-shot helpers**: [`Command::output`], [`Command::status`],
//!   [`Child::wait_with_output`] (both streams read concurrently: no deadlock on full pipes).
//! * **Writing** to any writable child fd with backpressure: [`Child::write_all`] (stdin),
//!   [`Child::write_to`] (any fd), or a taken [`ChildWriter`], an `AsyncWrite`. A fd that is
//!   not a pipe the parent writes is [`Error::NotWritable`]; a child that closed its end gives
//!   `BrokenPipe`, and the parent never gets `SIGPIPE`, whatever its disposition.
//! * **Reading** each output pipe as a [`ChildReader`] (an `AsyncRead`, and a
//!   [`Stream`](futures_core::Stream) of chunks), or everything at once as one stream of
//!   [`Event`]s (the [`Child`] is a `Stream` too; [`Child::next_event`]): `Data`, `Closed`,
//!   `Exited`, then `Ended` once the child is reaped *and* its pipes are closed.
//!   [`Child::pause`] stops reading an fd (the child blocks on the full pipe), which keeps
//!   memory bounded with a fast child and a slow consumer; a fd that is not a pipe the parent
//!   reads is [`Error::NotReadable`].
//! * **Closing** stdin, any fd, or all of them.
//! * **Signals** by [`Signal`](crate::Signal), through a pidfd, so they never reach a recycled
//!   PID; after the child was reaped, [`Error::ProcessExitedAlready`] and no signal at all, and
//!   [`Child::id`] is `None`.
//! * **Exit reasons**: [`ExitReason`], "exit code 23" or "killed by signal 15", convertible to
//!   and from [`std::process::ExitStatus`].
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
//! let mut child = Command::new("sh").stdio_pipes().spawn()?;
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
//! # Coming from `tokio::process`
//!
//! | tokio | pidward |
//! |---|---|
//! | `Command::new`, `arg`, `args`, `arg0`, `env`, `envs`, `env_remove`, `env_clear`, `current_dir`, `uid`, `gid`, `process_group`, `kill_on_drop` | the same names |
//! | `Command::from(std_cmd)` | `Command::from(&std_cmd)`, or `Command::from(tokio_cmd.as_std())` |
//! | `.stdin(Stdio::piped())` | `.stdin(ChildFd::Input)` (the parent writes) |
//! | `.stdout(Stdio::piped())`, `.stderr(Stdio::piped())` | `.stdout(ChildFd::Output)`, `.stderr(ChildFd::Output)` |
//! | `Stdio::null()`, `Stdio::inherit()`, `Stdio::from(file)` | `ChildFd::Null`, `ChildFd::Inherit(fd)`, `ChildFd::from(file)` |
//! | `pre_exec(...)` | no code runs after fork; the steps are the builder's: `user`, `group`, `groups`, `setsid`, `umask`, `rlimit` |
//! | `spawn()` | `spawn()` (errors name the failed step) |
//! | `output().await`, `status().await` | the same; `output.status` is an [`ExitReason`] |
//! | `child.id()` | `child.id()` (`None` once reaped) |
//! | `child.stdin.take()`, `.stdout.take()`, `.stderr.take()` | `child.take_stdin()`, `take_stdout()`, `take_stderr()` |
//! | `ChildStdin: AsyncWrite`, `ChildStdout: AsyncRead` | [`ChildWriter`], [`ChildReader`] (also a `Stream` of chunks) |
//! | `child.wait().await` | `child.wait().await`, after `child.close_stdin()` if stdin is a pipe |
//! | `child.try_wait()` | `child.try_wait()` |
//! | `child.start_kill()` | `child.signal(Signal::KILL)`, or any other signal |
//! | `child.kill().await` | `child.kill().await` (returns the reason) |
//! | `child.wait_with_output().await` | `child.wait_with_output().await` |
//! | `ExitStatus` | [`ExitReason`]; `ExitStatus::from(reason)`, `ExitReason::try_from(status)` |
//!
//! Every line of the table, run:
//!
//! ```
//! use pidward::process::{ChildFd, Command, Error, ExitReason};
//! use pidward::Signal;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! // Command::new(..).args(..).env(..).current_dir(..).output().await
//! let out = Command::new("sh")
//!     .args(["-c", "echo $GREETING in $PWD; echo oops >&2; exit 2"])
//!     .env("GREETING", "hello")
//!     .current_dir("/")
//!     .output()
//!     .await?;
//! assert_eq!(out.stdout, b"hello in /\n");
//! assert_eq!(out.stderr, b"oops\n");
//! assert_eq!(out.status.code(), Some(2));
//! let std_out: std::process::Output = out.into(); // tokio's type, if needed
//! assert_eq!(std_out.status.code(), Some(2));
//!
//! // Command::from(std::process::Command) and status().await (fds inherited)
//! let mut std_cmd = std::process::Command::new("true");
//! std_cmd.env_remove("HOME");
//! assert!(Command::from(&std_cmd).status().await?.success());
//!
//! // stdin/stdout piped, child.stdin.take(), AsyncWriteExt, child.stdout.take(), AsyncReadExt
//! let mut child = Command::new("tr")
//!     .args(["a-z", "A-Z"])
//!     .stdin(ChildFd::Input)
//!     .stdout(ChildFd::Output)
//!     .kill_on_drop(true)
//!     .spawn()?;
//! let mut stdin = child.take_stdin().unwrap();
//! let mut stdout = child.take_stdout().unwrap();
//! stdin.write_all(b"shout").await?;
//! drop(stdin);
//! let mut text = String::new();
//! stdout.read_to_string(&mut text).await?;
//! assert_eq!(text, "SHOUT");
//! assert!(child.wait().await?.success());
//!
//! // child.id(), child.start_kill(), child.try_wait(), child.kill().await
//! let mut child = Command::new("sleep").arg("60").spawn()?;
//! let pid = child.id().expect("running");
//! assert!(pid > 0);
//! assert_eq!(child.try_wait()?, None);
//! child.signal(Signal::KILL)?; // start_kill()
//! let reason = child.kill().await?; // already dying: kill() just waits
//! assert_eq!(reason.signal(), Some(Signal::KILL));
//! assert_eq!(child.id(), None);
//!
//! // child.wait_with_output().await
//! let child = Command::new("echo").arg("done").stdout(ChildFd::Output).spawn()?;
//! assert_eq!(child.wait_with_output().await?.stdout, b"done\n");
//!
//! // ExitStatus
//! let status = std::process::ExitStatus::from(reason);
//! assert_eq!(ExitReason::try_from(status), Ok(reason));
//! # Ok(())
//! # }
//! ```
//!
//! # Coming from Twisted
//!
//! `reactor.spawnProcess(protocol, executable, args, env, path, uid, gid, usePTY, childFDs)`
//! is `Command::new(executable).arg0(args[0]).args(&args[1..])`, then `.env_clear().envs(env)`
//! for an exact environment, `.current_dir(path)`, `.uid(uid)`, `.gid(gid)` (or `.user(name)`),
//! and `.fd(n, ChildFd::Input)` for `childFDs={n: "w"}`, `ChildFd::Output` for `"r"`,
//! `ChildFd::Inherit(fd)` for a parent fd; Twisted's default `{0: "w", 1: "r", 2: "r"}` is
//! [`stdio_pipes`](Command::stdio_pipes). `usePTY` has no equivalent. `spawn()` returns the
//! transport; the protocol's callbacks are the events the caller pulls.
//!
//! | `IProcessTransport` | [`Child`] |
//! |---|---|
//! | `pid` | `id()` (`None` once reaped, where Twisted has `None` too) |
//! | `write(data)` | `write_all(data).await` |
//! | `writeSequence(seq)` | `take_stdin()` and `write_vectored` / `write_all` of each buffer |
//! | `writeToChild(fd, data)` | `write_to(fd, data).await` |
//! | `closeStdin()` | `close_stdin()` |
//! | `closeStdout()`, `closeStderr()`, `closeChildFD(fd)` | `close_fd(1)`, `close_fd(2)`, `close_fd(fd)` |
//! | `loseConnection()` | `close_all()` |
//! | `signalProcess("TERM")` | `signal(Signal::TERM)` (or `"TERM".parse()?`) |
//! | `pauseProducing()`, `resumeProducing()` | `pause(fd)`, `resume(fd)` for each fd read |
//!
//! | `IProcessProtocol` | [`Event`] from [`next_event`](Child::next_event) |
//! |---|---|
//! | `makeConnection(transport)` | `spawn()` returned |
//! | `childDataReceived(fd, data)`, `outReceived`, `errReceived` | `Event::Data { fd, data }` (fd 1, fd 2) |
//! | `childConnectionLost(fd)`, `inConnectionLost`, `outConnectionLost`, `errConnectionLost` | `Event::Closed { fd }` (fd 0, 1, 2) |
//! | `processExited(reason)` | `Event::Exited(reason)` |
//! | `processEnded(reason)` | `Event::Ended(reason)`, last |
//! | `reason.value.exitCode`, `.signal`; `ProcessDone` | `reason.code()`, `reason.signal()`; `reason.success()` |
//!
//! Every line of the tables, run:
//!
//! ```
//! use pidward::process::{ChildFd, Command, Error, Event};
//! use pidward::Signal;
//! use tokio::io::AsyncWriteExt;
//! use std::io::IoSlice;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! // spawnProcess(p, "/bin/sh", ["sh", "-c", ...], env={"X": "1"}, path="/",
//! //              childFDs={0: "w", 1: "r", 2: "r", 3: "w"})
//! let script = "read a; echo \"$0 $X $a\"; read b <&3; echo \"$b\" >&2; exec sleep 60";
//! let mut child = Command::new("/bin/sh")
//!     .arg0("sh")
//!     .args(["-c", script])
//!     .env_clear()
//!     .envs([("X", "1")])
//!     .current_dir("/")
//!     .stdio_pipes()
//!     .fd(3, ChildFd::Input)
//!     .spawn()?; // makeConnection
//! assert!(child.id().is_some()); // transport.pid
//! child.write_all(b"from stdin\n").await?; // transport.write
//! child.write_to(3, b"from fd 3\n").await?; // transport.writeToChild(3, ...)
//! child.close_stdin(); // transport.closeStdin()
//! child.close_fd(3); // transport.closeChildFD(3)
//!
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! while out != b"sh 1 from stdin\n" || err != b"from fd 3\n" {
//!     match child.next_event().await?.expect("not ended yet") {
//!         Event::Data { fd: 1, data } => out.extend(data), // outReceived
//!         Event::Data { fd: 2, data } => err.extend(data), // errReceived
//!         Event::Closed { fd } => assert!(fd == 0 || fd == 3), // inConnectionLost, ...
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! child.pause(1)?; // pauseProducing (per fd)
//! child.resume(1)?; // resumeProducing
//! child.signal(Signal::TERM)?; // transport.signalProcess("TERM")
//! child.close_all(); // transport.loseConnection()
//! let mut exited = None;
//! while let Some(event) = child.next_event().await? {
//!     match event {
//!         Event::Exited(reason) => exited = Some(reason), // processExited
//!         Event::Ended(reason) => {
//!             // processEnded: reason.value.signal
//!             assert_eq!(Some(reason), exited);
//!             assert_eq!(reason.signal(), Some(Signal::TERM));
//!             assert!(!reason.success()); // ProcessTerminated, not ProcessDone
//!         }
//!         Event::Closed { .. } => {} // outConnectionLost, errConnectionLost
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//!
//! // transport.writeSequence([...]): vectored writes on the taken writer
//! let mut child = Command::new("cat").stdio_pipes().spawn()?;
//! let mut stdin = child.take_stdin().unwrap();
//! let n = stdin.write_vectored(&[IoSlice::new(b"a"), IoSlice::new(b"b")]).await?;
//! assert_eq!(n, 2);
//! drop(stdin);
//! assert_eq!(child.wait_with_output().await?.stdout, b"ab");
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! Children are started by the child set-up engine ([`crate::child::spawn`]:
//! `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)`, the technique of `posix_spawn` plus the
//! steps it lacks), and reaped through their [`PidFd`](crate::pidfd::PidFd) registered with
//! tokio's reactor: one reaping regime, no `SIGCHLD` handler. A pipe grows to 1 MiB
//! (`F_SETPIPE_SZ`, best effort) once it proves busy, and data moves in large reads and
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
mod output;
mod pipes;
mod reader;
mod reaper;
mod sigpipe;
mod spawn;
mod writer;

pub use child::Child;
pub use command::{Command, DEFAULT_PIPE_SIZE};
pub use error::Error;
pub use events::Event;
pub use exit::ExitReason;
pub use fdmap::ChildFd;
pub use io::{ChildReader, ChildWriter};
pub use output::Output;
