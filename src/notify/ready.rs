//! Where readiness comes from ([`ReadySource`]), how a start-up ended ([`ReadyOutcome`]), and
//! the blocking wait for it.
//!
//! [`ReadySource::wait`] polls (poll(2)) two descriptors: the readiness channel (the sd_notify
//! [`Listener`] or the read end of a notify-fd pipe) and the child's pidfd, which becomes
//! readable when the child exits, and hands each wake-up to a
//! [`ReadyWatch`](super::ReadyWatch), the non-blocking wait that owns the deadline (its module
//! docs say how `EXTEND_TIMEOUT_USEC=` and the child's exit are weighed). It returns the moment
//! the outcome is known: `READY=1` (or a newline on the pipe), an `ERRNO=` without `READY=1`,
//! the child's exit, the pipe closed without a newline by a child that lives on, or the
//! deadline. `EINTR` restarts the poll with the time that is left; nothing here can block past
//! the deadline.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};

use super::error::{Call, Error};
use super::listener::Listener;
use super::message::Notification;
use super::watch::{WatchState, poll_until};

/// Where a child's readiness comes from.
#[derive(Debug)]
pub enum ReadySource {
    /// The sd_notify protocol: the child got [`Listener::address`] in `NOTIFY_SOCKET`.
    Notify(Listener),
    /// The notify-fd protocol: the read end of a pipe whose write end the child holds on its
    /// agreed descriptor *N* (announced in [`NOTIFY_FD`](super::NOTIFY_FD)). The child writes
    /// a newline when ready. The supervisor must close its own copy of the write end after
    /// spawning. [`wait`](ReadySource::wait) puts this descriptor in non-blocking mode.
    Fd(OwnedFd),
    /// A probe run by the supervisor itself (a TCP connect, a check command, a file): for a
    /// service that never declares readiness.
    Probe(super::Probe),
}

/// How a readiness wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyOutcome {
    /// The child declared itself ready (`READY=1`, or a newline on the notify fd).
    Ready {
        /// The last `MAINPID=` received during the wait, if any: the process to treat as the
        /// service from now on (and to name when relaying readiness upward).
        main_pid: Option<u32>,
        /// The last `STATUS=` received during the wait, if any.
        status: Option<String>,
    },
    /// The child reported a failure: a message with `ERRNO=` (non-zero) and no `READY=1`.
    /// [`ReadyOutcome::error`] turns it into an OS error for display.
    Failed {
        /// The reported errno, e.g. 98 for "Address already in use".
        errno: i32,
        /// The last `STATUS=` received during the wait, if any.
        status: Option<String>,
    },
    /// The deadline passed first (the timeout, possibly extended).
    Timeout,
    /// The child exited (its pidfd became readable) before declaring readiness. Reap it to
    /// learn its status.
    ChildExited,
    /// Notify-fd only: the child, still running, closed the pipe without writing a newline,
    /// so readiness will never come. (A child that dies before its newline gives
    /// [`ReadyOutcome::ChildExited`].)
    Closed,
}

impl ReadyOutcome {
    /// For [`ReadyOutcome::Failed`], the errno as an OS error (`Display`: "Address already
    /// in use (os error 98)"); `None` otherwise.
    pub fn error(&self) -> Option<io::Error> {
        match self {
            ReadyOutcome::Failed { errno, .. } => Some(io::Error::from_raw_os_error(*errno)),
            _ => None,
        }
    }
}

impl ReadySource {
    /// A pipe for the notify-fd protocol (pipe2(2) with `O_CLOEXEC`): the source holding the
    /// read end, and the write end for the child. Both are close-on-exec; the child's copy
    /// must be moved to its agreed descriptor *N* (dup2(2) clears the flag on the copy), and
    /// the supervisor then drops the write end it got here.
    ///
    /// ```
    /// use std::os::fd::AsFd;
    /// use std::time::Duration;
    /// use pidward::notify::{ReadyOutcome, ReadySource};
    ///
    /// let (source, write_end) = ReadySource::pipe()?;
    /// rustix::io::write(&write_end, b"\n")?; // what the child does on fd N
    /// drop(write_end);
    /// // Any pidfd will do for the example: this process's own never becomes readable.
    /// let me = rustix::process::pidfd_open(
    ///     rustix::process::getpid(),
    ///     rustix::process::PidfdFlags::empty(),
    /// )?;
    /// let outcome = source.wait(me.as_fd(), Duration::from_secs(5), |_| {})?;
    /// assert_eq!(outcome, ReadyOutcome::Ready { main_pid: None, status: None });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pipe() -> Result<(ReadySource, OwnedFd), Error> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(Error::sys(Call::Pipe))?;
        Ok((ReadySource::Fd(read), write))
    }

    /// Waits until the child declares readiness, fails, exits, or the deadline passes: a
    /// [`ReadyWatch`](super::ReadyWatch) polled (poll(2)) together with the child's pidfd until it has an
    /// outcome.
    ///
    /// - `child`: a pidfd of the started process (pidfd_open(2)); it becomes readable when
    ///   the process exits. The process is not reaped here.
    /// - `timeout`: the initial deadline, from now. `EXTEND_TIMEOUT_USEC=` moves the deadline
    ///   to at least now + the extension. A timeout too large to represent waits with no
    ///   deadline (the child's exit still ends the wait).
    /// - `on_message`: called for every accepted sd_notify message, in order, before it is
    ///   acted on (to log `STATUS=`, record `MAINPID=`…). Never called for notify-fd.
    ///
    /// Returns `Err` only when a system call fails (poll(2), recvmsg(2), read(2)); the
    /// outcomes of the child's start-up, failures included, are [`ReadyOutcome`]s. The
    /// listener stays usable afterwards: keep reading it for later messages.
    pub fn wait(
        &self,
        child: BorrowedFd<'_>,
        timeout: Duration,
        mut on_message: impl FnMut(&Notification),
    ) -> Result<ReadyOutcome, Error> {
        let mut state = WatchState::new(self, timeout)?;
        loop {
            if let Some(outcome) = state.poll(self, child, &mut on_message)? {
                return Ok(outcome);
            }
            let channel = self.as_fd();
            let mut fds = [
                PollFd::new(&channel, PollFlags::IN),
                PollFd::new(&child, PollFlags::IN),
            ];
            poll_until(&mut fds, state.deadline).map_err(Error::sys(Call::PollChannel))?;
        }
    }
}

impl AsFd for ReadySource {
    /// The descriptor to poll for this source: the listener's socket, the pipe's read end, or
    /// the probe's poll set.
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            ReadySource::Notify(listener) => listener.as_fd(),
            ReadySource::Fd(fd) => fd.as_fd(),
            ReadySource::Probe(probe) => probe.as_fd(),
        }
    }
}
