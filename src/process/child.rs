//! [`Child`]: the handle of a running child process.
//!
//! The handle owns the child's pidfd and the parent's ends of its pipes (by child fd number).
//! Through it the parent writes to any writable child fd, closes fds, pauses and resumes
//! readers, signals the child and waits for it; the event stream (`events`) turns the whole
//! thing into one Twisted-style stream of [`Event`](super::Event)s, and `output` collects
//! everything at once. Pipes can also be taken out of the handle (`pipes`) to be driven from
//! other tasks.
//!
//! # Reaping
//!
//! There is one reaping regime: the handle's pidfd. Its readiness (registered with tokio's
//! reactor) says the child has terminated, and `waitid(P_PIDFD)` reaps exactly this child. No
//! `SIGCHLD` handler, no `waitpid(-1)`, nothing that could steal another library's children.
//! Once reaped, the handle remembers the [`ExitReason`], no longer reports a PID
//! ([`Child::id`] is `None`) and refuses to signal ([`Error::ProcessExitedAlready`]): the PID
//! may already name another process.
//!
//! Dropping a handle whose child was not reaped optionally kills it (`kill_on_drop`), and then
//! hands the pidfd to the background reaper (`reaper`), so a dropped handle never leaves a
//! zombie, whether or not a tokio runtime is still running.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::task::{Context, Poll};

use tokio::io::AsyncWriteExt;
use tokio::io::unix::AsyncFd;

use super::error::Error;
use super::events::Event;
use super::exit::ExitReason;
use super::io::{ChildReader, ChildWriter};
use super::reaper;
use crate::Signal;
use crate::pidfd::PidFd;

/// Handle options carried over from the [`Command`](super::Command).
pub(crate) struct Options {
    pub kill_on_drop: bool,
    /// Whether signals address the child's process group (which the child leads).
    pub group: bool,
}

/// One pipe held by the handle.
#[derive(Debug)]
pub(crate) enum Pipe {
    Reader(ChildReader),
    Writer(ChildWriter),
}

/// A running (or finished) child process.
///
/// Everything a child does is reached through these methods, the pipes taken out of the
/// handle, and the event stream (the handle is a [`Stream`](futures_core::Stream) of
/// [`Event`]s):
///
/// | to | call |
/// |---|---|
/// | know the PID (until reaped) | [`id`](Child::id); the pidfd through [`AsFd`] |
/// | write | [`write_all`](Child::write_all) (stdin), [`write_to`](Child::write_to) (any fd); anything else through [`take_writer`](Child::take_writer)'s `AsyncWrite` |
/// | read | [`take_stdout`](Child::take_stdout), [`take_stderr`](Child::take_stderr), [`take_reader`](Child::take_reader) (`AsyncRead` and a `Stream` of chunks); or [`next_event`](Child::next_event) |
/// | collect everything | [`wait_with_output`](Child::wait_with_output) |
/// | flow control | [`pause`](Child::pause), [`resume`](Child::resume) |
/// | close | [`close_stdin`](Child::close_stdin), [`close_fd`](Child::close_fd), [`close_all`](Child::close_all) |
/// | signal, stop | [`signal`](Child::signal), [`kill`](Child::kill) |
/// | wait | [`wait`](Child::wait), [`try_wait`](Child::try_wait) |
///
/// ```
/// use pidward::process::{Command, Error, ExitReason};
/// use pidward::Signal;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let mut child = Command::new("sleep").arg("60").spawn()?;
/// assert!(child.id().is_some());
/// child.signal(Signal::TERM)?;
/// let reason = child.wait().await?;
/// assert_eq!(reason, ExitReason::Signaled { signal: Signal::TERM, core_dumped: false });
/// assert_eq!(reason.to_string(), "killed by signal 15");
/// // Reaped: its PID may be reused, so there is no PID and no further signal.
/// assert_eq!(child.id(), None);
/// assert!(matches!(child.signal(Signal::KILL), Err(Error::ProcessExitedAlready { .. })));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Child {
    pub(crate) pid: u32,
    /// `None` only while being dropped.
    pub(crate) pidfd: Option<AsyncFd<PidFd>>,
    pub(crate) reason: Option<ExitReason>,
    pub(crate) pipes: BTreeMap<RawFd, Pipe>,
    pub(crate) paused: BTreeSet<RawFd>,
    pub(crate) pending: VecDeque<Event>,
    pub(crate) exited_reported: bool,
    pub(crate) ended_reported: bool,
    /// Where the event stream starts looking for readable pipes next (round robin).
    pub(crate) cursor: RawFd,
    kill_on_drop: bool,
    group: bool,
}

impl Child {
    pub(crate) fn new(
        pid: u32,
        pidfd: AsyncFd<PidFd>,
        readers: Vec<ChildReader>,
        writers: Vec<ChildWriter>,
        options: Options,
    ) -> Child {
        let mut pipes = BTreeMap::new();
        for r in readers {
            pipes.insert(r.child_fd(), Pipe::Reader(r));
        }
        for w in writers {
            pipes.insert(w.child_fd(), Pipe::Writer(w));
        }
        Child {
            pid,
            pidfd: Some(pidfd),
            reason: None,
            pipes,
            paused: BTreeSet::new(),
            pending: VecDeque::new(),
            exited_reported: false,
            ended_reported: false,
            cursor: 0,
            kill_on_drop: options.kill_on_drop,
            group: options.group,
        }
    }

    /// The child's process ID, or `None` once it was reaped (its PID may then name another
    /// process), as tokio's `Child::id`.
    #[doc(alias = "pid")]
    pub fn id(&self) -> Option<u32> {
        self.reason.is_none().then_some(self.pid)
    }

    fn pidfd(&self) -> &PidFd {
        match &self.pidfd {
            Some(fd) => fd.get_ref(),
            None => unreachable!("the pidfd is only taken while dropping"),
        }
    }

    // ----- writing -----

    /// Writes all of `data` to the child's stdin.
    ///
    /// Waits while the pipe is full (backpressure). A child that closed its stdin gives an
    /// [`Error::Io`] of kind `BrokenPipe`; the parent never gets `SIGPIPE`. Stdin must be a
    /// pipe ([`ChildFd::Input`](super::ChildFd::Input)), else [`Error::NotWritable`].
    ///
    /// While this waits nothing reads the child's output; a child that answers a large input
    /// with a large output can fill both pipes. For such streams take the writer out
    /// ([`take_stdin`](Child::take_stdin)) and write from another task while reading here.
    /// Vectored writes and the rest of `AsyncWriteExt` are on the taken writer.
    #[doc(alias = "write", alias = "writeSequence")]
    pub async fn write_all(&mut self, data: &[u8]) -> Result<(), Error> {
        self.write_to(0, data).await
    }

    /// Writes all of `data` to child fd `fd`.
    ///
    /// An fd that is not a pipe this handle writes is [`Error::NotWritable`].
    ///
    /// ```
    /// use pidward::process::{ChildFd, Command, Error};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let mut child = Command::new("sh")
    ///     .args(["-c", "cat <&3"])
    ///     .fd(3, ChildFd::Input)
    ///     .stdout(ChildFd::Output)
    ///     .spawn()?;
    /// child.write_to(3, b"via fd 3").await?;
    /// assert!(matches!(child.write_to(1, b"x").await, Err(Error::NotWritable { fd: 1 })));
    /// child.close_fd(3);
    /// assert_eq!(child.wait_with_output().await?.stdout, b"via fd 3");
    /// # Ok(())
    /// # }
    /// ```
    #[doc(alias = "writeToChild")]
    pub async fn write_to(&mut self, fd: RawFd, data: &[u8]) -> Result<(), Error> {
        match self.pipes.get_mut(&fd) {
            Some(Pipe::Writer(w)) => Ok(w.write_all(data).await?),
            _ => Err(Error::NotWritable { fd }),
        }
    }

    // ----- flow control -----

    /// Stops reading child fd `fd` in the event stream: its data stays in the pipe, and a
    /// child that keeps writing blocks once the pipe is full. An fd that is not a pipe this
    /// handle reads is [`Error::NotReadable`].
    #[doc(alias = "pauseProducing")]
    pub fn pause(&mut self, fd: RawFd) -> Result<(), Error> {
        match self.pipes.get(&fd) {
            Some(Pipe::Reader(_)) => {
                self.paused.insert(fd);
                Ok(())
            }
            _ => Err(Error::NotReadable { fd }),
        }
    }

    /// Resumes reading child fd `fd` in the event stream; [`Error::NotReadable`] as
    /// [`pause`](Child::pause).
    #[doc(alias = "resumeProducing")]
    pub fn resume(&mut self, fd: RawFd) -> Result<(), Error> {
        match self.pipes.get(&fd) {
            Some(Pipe::Reader(_)) => {
                self.paused.remove(&fd);
                Ok(())
            }
            _ => Err(Error::NotReadable { fd }),
        }
    }

    // ----- signals -----

    /// Sends `signal` to the child (or its process group, with
    /// [`kill_process_group`](super::Command::kill_process_group)) through its pidfd.
    ///
    /// After the child was reaped this is [`Error::ProcessExitedAlready`] and nothing is sent.
    /// Before that, a child that has exited but is not reaped yet (a zombie) accepts and
    /// ignores the signal.
    ///
    /// A group signal goes through the pidfd too (`PIDFD_SIGNAL_PROCESS_GROUP`): it reaches the
    /// group the child leads and no other, even if the kernel reaped the child behind this
    /// handle's back (`SIGCHLD` ignored) and its number was reused. Kernels before 6.9 cannot
    /// do that: [`Error::GroupSignalUnsupported`], and nothing is sent.
    #[doc(alias = "signalProcess", alias = "start_kill")]
    pub fn signal(&self, signal: Signal) -> Result<(), Error> {
        if self.reason.is_some() {
            return Err(Error::ProcessExitedAlready { pid: self.pid });
        }
        let result = if self.group {
            self.pidfd().signal_group(signal)
        } else {
            self.pidfd().send_signal(signal)
        };
        match result {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                Err(Error::ProcessExitedAlready { pid: self.pid })
            }
            Err(e) if self.group && e.raw_os_error() == Some(libc::EINVAL) => {
                Err(Error::GroupSignalUnsupported { pid: self.pid })
            }
            other => Ok(other?),
        }
    }

    /// Sends `SIGKILL` (unless the child was reaped already) and waits for the child to be
    /// reaped.
    pub async fn kill(&mut self) -> Result<ExitReason, Error> {
        match self.signal(Signal::KILL) {
            Ok(()) | Err(Error::ProcessExitedAlready { .. }) => {}
            Err(e) => return Err(e),
        }
        self.wait().await
    }

    // ----- waiting -----

    /// Polls for the child's termination and reaps it (`waitid(P_PIDFD)`); the reason is kept.
    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<ExitReason, Error>> {
        if let Some(reason) = self.reason {
            return Poll::Ready(Ok(reason));
        }
        let Some(fd) = self.pidfd.as_ref() else {
            return Poll::Pending;
        };
        loop {
            let mut guard = match fd.poll_read_ready(cx) {
                Poll::Ready(Ok(guard)) => guard,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => return Poll::Pending,
            };
            match reap(fd.get_ref(), false) {
                Ok(Some(reason)) => {
                    self.reason = Some(reason);
                    return Poll::Ready(Ok(reason));
                }
                Ok(None) => guard.clear_ready(),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Waits for the child to terminate and reaps it. Pipes stay open: output the child wrote
    /// can still be read afterwards. Returns the same reason when called again. Cancel safe.
    ///
    /// Unlike tokio's `wait`, stdin is not closed first: close it
    /// ([`close_stdin`](Child::close_stdin)) if the child waits for its end of file. A child
    /// blocked writing to a full pipe nobody reads will not terminate either: read (or close)
    /// its outputs, or use [`wait_with_output`](Child::wait_with_output) or the event stream,
    /// which do both.
    pub async fn wait(&mut self) -> Result<ExitReason, Error> {
        std::future::poll_fn(|cx| self.poll_wait(cx)).await
    }

    /// Reaps the child if it has terminated, without waiting; the reason once it was reaped.
    pub fn try_wait(&mut self) -> Result<Option<ExitReason>, Error> {
        if let Some(reason) = self.reason {
            return Ok(Some(reason));
        }
        let reason = reap(self.pidfd(), false)?;
        self.reason = reason;
        Ok(reason)
    }
}

/// Reaps the child behind `pidfd` and decodes how it ended.
fn reap(pidfd: &PidFd, block: bool) -> Result<Option<ExitReason>, Error> {
    match pidfd.reap(block)? {
        Some(reaped) => Ok(Some(ExitReason::from_siginfo(reaped.code, reaped.status)?)),
        None => Ok(None),
    }
}

impl AsFd for Child {
    /// The child's pidfd (for `poll`, `pidfd_getfd`, ...), valid as long as the handle, also
    /// after the child was reaped.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pidfd().as_fd()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.reason.is_some() {
            return;
        }
        if self.kill_on_drop
            && let Err(Error::GroupSignalUnsupported { .. }) = self.signal(Signal::KILL)
        {
            // The group cannot be addressed safely: kill at least the child itself.
            let _ = self.pidfd().send_signal(Signal::KILL);
        }
        if let Ok(Some(_)) = self.try_wait() {
            return;
        }
        if let Some(fd) = self.pidfd.take() {
            reaper::adopt(fd.into_inner());
        }
    }
}
