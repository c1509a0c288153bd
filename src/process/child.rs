//! [`Child`]: the handle of a running child process.
//!
//! The handle owns the child's pidfd and the parent's ends of its pipes (by child fd number).
//! Through it the parent writes to any writable child fd, closes fds, pauses and resumes
//! readers, signals the child and waits for it; [`Child::next_event`] (in `events`) turns the
//! whole thing into one Twisted-style event stream. Pipes can also be taken out of the handle
//! ([`Child::take_writer`], [`Child::take_reader`]) to be driven from other tasks.
//!
//! # Reaping
//!
//! There is one reaping regime: the handle's pidfd. Its readiness (registered with tokio's
//! reactor) says the child has terminated, and `waitid(P_PIDFD)` reaps exactly this child. No
//! `SIGCHLD` handler, no `waitpid(-1)`, nothing that could steal another library's children.
//! Once reaped, the handle remembers the [`ExitReason`] and refuses to signal
//! ([`Error::ProcessExitedAlready`]): the PID may already name another process.
//!
//! Dropping a handle whose child was not reaped optionally kills it (`kill_on_drop`), and then
//! hands the pidfd to the background reaper (`reaper`), so a dropped handle never leaves a
//! zombie, whether or not a tokio runtime is still running.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::IoSlice;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::task::{Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::Error;
use super::events::Event;
use super::exit::ExitReason;
use super::io::{ChildReader, ChildWriter};
use super::{pidfd, reaper};
use crate::Signal;

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
/// ```
/// use pidward::process::{Command, Event, ExitReason};
/// use pidward::Signal;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), pidward::process::Error> {
/// let mut child = Command::new("sleep").arg("60").spawn()?;
/// child.signal(Signal::TERM)?;
/// let reason = child.wait().await?;
/// assert_eq!(reason, ExitReason::Signaled { signal: Signal::TERM, core_dumped: false });
/// assert_eq!(reason.to_string(), "killed by signal 15");
/// // Reaped: its PID may be reused, so no further signal is sent.
/// assert!(matches!(child.signal(Signal::KILL), Err(pidward::process::Error::ProcessExitedAlready { .. })));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Child {
    pub(crate) pid: u32,
    /// `None` only while being dropped.
    pub(crate) pidfd: Option<AsyncFd<OwnedFd>>,
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
        pidfd: AsyncFd<OwnedFd>,
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

    /// The child's process ID. Only meaningful until the child is reaped.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// The child's pidfd (for `poll`, `pidfd_getfd`, ...). Valid as long as the handle.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        match &self.pidfd {
            Some(fd) => fd.get_ref().as_fd(),
            None => unreachable!("the pidfd is only taken while dropping"),
        }
    }

    /// The exit reason, once the child has been reaped.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.reason
    }

    // ----- writing -----

    fn writer(&mut self, fd: RawFd) -> Result<&mut ChildWriter, Error> {
        match self.pipes.get_mut(&fd) {
            Some(Pipe::Writer(w)) => Ok(w),
            _ => Err(Error::NotWritable { fd }),
        }
    }

    /// Writes some of `data` to the child's stdin; waits while the pipe is full.
    pub async fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        Ok(self.writer(0)?.write(data).await?)
    }

    /// Writes all of `data` to the child's stdin (Twisted's `write`).
    ///
    /// Waits while the pipe is full (backpressure). A child that closed its stdin gives an
    /// [`Error::Io`] of kind `BrokenPipe`; the parent never gets `SIGPIPE`.
    ///
    /// While this waits nothing reads the child's output; a child that answers a large input
    /// with a large output can fill both pipes. For such streams take the writer out
    /// ([`take_stdin`](Child::take_stdin)) and write from another task while reading here.
    pub async fn write_all(&mut self, data: &[u8]) -> Result<(), Error> {
        self.write_to(0, data).await
    }

    /// One `writev(2)` of `bufs` to the child's stdin; returns how much was written.
    pub async fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> Result<usize, Error> {
        Ok(self.writer(0)?.write_vectored(bufs).await?)
    }

    /// Writes every buffer of `seq`, in order, to the child's stdin with vectored writes
    /// (Twisted's `writeSequence`).
    ///
    /// ```
    /// use pidward::process::Command;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), pidward::process::Error> {
    /// let mut child = Command::new("cat").spawn()?;
    /// let header = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
    /// child.write_sequence(&[&header[..], b"hello ", b"world"]).await?;
    /// child.close_stdin();
    /// assert_eq!(child.read_to_end(1).await?, b"HTTP/1.0 200 OK\r\n\r\nhello world");
    /// # child.wait().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn write_sequence<B: AsRef<[u8]>>(&mut self, seq: &[B]) -> Result<(), Error> {
        self.write_sequence_to(0, seq).await
    }

    /// Writes every buffer of `seq`, in order, to child fd `fd` with vectored writes.
    pub async fn write_sequence_to<B: AsRef<[u8]>>(
        &mut self,
        fd: RawFd,
        seq: &[B],
    ) -> Result<(), Error> {
        let writer = self.writer(fd)?;
        let mut slices: Vec<IoSlice<'_>> = seq.iter().map(|b| IoSlice::new(b.as_ref())).collect();
        let mut rest = &mut slices[..];
        // Drops leading empty buffers, so that an all-empty sequence writes nothing.
        IoSlice::advance_slices(&mut rest, 0);
        while !rest.is_empty() {
            let n = writer.write_vectored(rest).await?;
            if n == 0 {
                return Err(Error::Io(std::io::ErrorKind::WriteZero.into()));
            }
            IoSlice::advance_slices(&mut rest, n);
        }
        Ok(())
    }

    /// Writes all of `data` to child fd `fd` (Twisted's `writeToChild`).
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
    ///     .spawn()?;
    /// child.write_to(3, b"via fd 3").await?;
    /// assert!(matches!(child.write_to(1, b"x").await, Err(Error::NotWritable { fd: 1 })));
    /// child.close_fd(3);
    /// assert_eq!(child.read_to_end(1).await?, b"via fd 3");
    /// # child.wait().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn write_to(&mut self, fd: RawFd, data: &[u8]) -> Result<(), Error> {
        Ok(self.writer(fd)?.write_all(data).await?)
    }

    // ----- reading -----

    /// Reads child fd `fd` to end of file and returns everything (for short outputs; use the
    /// event stream or [`take_reader`](Child::take_reader) for long-running ones).
    pub async fn read_to_end(&mut self, fd: RawFd) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        match self.pipes.get_mut(&fd) {
            Some(Pipe::Reader(r)) => {
                r.read_to_end(&mut out).await?;
            }
            _ => {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("child fd {fd} is not a pipe this handle reads"),
                )));
            }
        }
        Ok(out)
    }

    /// Stops reading child fd `fd` in the event stream (Twisted's `pauseProducing`, per fd):
    /// its data stays in the pipe, and a child that keeps writing blocks once the pipe is full.
    pub fn pause(&mut self, fd: RawFd) {
        if matches!(self.pipes.get(&fd), Some(Pipe::Reader(_))) {
            self.paused.insert(fd);
        }
    }

    /// Resumes reading child fd `fd` in the event stream.
    pub fn resume(&mut self, fd: RawFd) {
        self.paused.remove(&fd);
    }

    /// Pauses every reader.
    pub fn pause_all(&mut self) {
        let readers: Vec<RawFd> = self
            .pipes
            .iter()
            .filter(|(_, p)| matches!(p, Pipe::Reader(_)))
            .map(|(&fd, _)| fd)
            .collect();
        self.paused.extend(readers);
    }

    /// Resumes every reader.
    pub fn resume_all(&mut self) {
        self.paused.clear();
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
    pub fn signal(&self, signal: Signal) -> Result<(), Error> {
        if self.reason.is_some() {
            return Err(Error::ProcessExitedAlready { pid: self.pid });
        }
        let result = if self.group {
            pidfd::signal_group(self.pidfd(), signal)
        } else {
            pidfd::send_signal(self.pidfd(), signal)
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

    /// Sends `SIGKILL` and waits for the child to be reaped.
    pub async fn kill(&mut self) -> Result<ExitReason, Error> {
        match self.signal(Signal::KILL) {
            Ok(()) | Err(Error::ProcessExitedAlready { .. }) => {}
            Err(e) => return Err(e),
        }
        self.wait().await
    }

    // ----- waiting -----

    /// Polls for the child's termination and reaps it (`waitid(P_PIDFD)`); the reason is kept.
    pub fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<ExitReason, Error>> {
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
            match pidfd::wait(fd.get_ref().as_fd(), false) {
                Ok(Some(reason)) => {
                    self.reason = Some(reason);
                    return Poll::Ready(Ok(reason));
                }
                Ok(None) => guard.clear_ready(),
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
    }

    /// Waits for the child to terminate and reaps it. Pipes stay open: output the child wrote
    /// can still be read afterwards. Returns the same reason when called again.
    ///
    /// A child blocked writing to a full pipe nobody reads will not terminate; read (or close)
    /// its outputs, or use the event stream, which does both.
    pub async fn wait(&mut self) -> Result<ExitReason, Error> {
        std::future::poll_fn(|cx| self.poll_wait(cx)).await
    }

    /// Reaps the child if it has terminated, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitReason>, Error> {
        if let Some(reason) = self.reason {
            return Ok(Some(reason));
        }
        let reason = pidfd::wait(self.pidfd(), false)?;
        self.reason = reason;
        Ok(reason)
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
            let _ = pidfd::send_signal(self.pidfd(), Signal::KILL);
        }
        if let Ok(Some(_)) = self.try_wait() {
            return;
        }
        if let Some(fd) = self.pidfd.take() {
            reaper::adopt(fd.into_inner());
        }
    }
}
