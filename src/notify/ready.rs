//! The readiness wait: one blocking call that says how a child's start-up ended.
//!
//! [`ReadySource::wait`] polls (poll(2)) two descriptors: the readiness channel (the sd_notify
//! [`Listener`] or the read end of a notify-fd pipe) and the child's pidfd, which becomes
//! readable when the child exits. It returns the moment the outcome is known: `READY=1` (or a
//! newline on the pipe), an `ERRNO=` without `READY=1`, the child's exit, the pipe closed
//! without a newline by a child that lives on, or the deadline. (A dying child closes the
//! pipe a moment before its pidfd reports the exit; an end of file is therefore weighed
//! against the pidfd for up to 100 ms.) The deadline starts at the given timeout and each
//! `EXTEND_TIMEOUT_USEC=` pushes it to at least *now + the extension*, as systemd does. The
//! channel is always drained before the child's exit is reported, so a child that sends
//! `READY=1` and exits at once is still seen as ready. `EINTR` restarts the poll with the
//! time that is left; nothing here can block past the deadline.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::context;
use super::listener::Listener;
use super::message::Notification;

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
    pub fn pipe() -> io::Result<(ReadySource, OwnedFd)> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| context(e.into(), "creating the notify-fd pipe"))?;
        Ok((ReadySource::Fd(read), write))
    }

    /// Waits until the child declares readiness, fails, exits, or the deadline passes.
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
    ) -> io::Result<ReadyOutcome> {
        let mut deadline = Instant::now().checked_add(timeout);
        let mut seen = Seen::default();
        if let ReadySource::Fd(fd) = self {
            set_nonblocking(fd)?;
        }
        let mut exited = false;
        loop {
            // The channel is drained before the exit is reported: a message the child sent
            // just before exiting still counts.
            match self.drain(&mut seen, &mut deadline, &mut on_message)? {
                Some(ReadyOutcome::Closed) if exited || has_exited(child, CLOSE_GRACE)? => {
                    // A dying child closes its descriptors before it becomes a zombie: the
                    // end of file was its death, not a choice.
                    return Ok(ReadyOutcome::ChildExited);
                }
                Some(outcome) => return Ok(outcome),
                None => {}
            }
            if exited {
                return Ok(ReadyOutcome::ChildExited);
            }
            let remaining = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(ReadyOutcome::Timeout);
                    }
                    Some(left)
                }
                None => None,
            };
            let channel = self.channel();
            let mut fds = [
                PollFd::new(&channel, PollFlags::IN),
                PollFd::new(&child, PollFlags::IN),
            ];
            // poll(2) rounds its timeout up, so waking before the deadline only means a
            // message arrived; a timeout beyond what poll takes is capped and re-armed.
            let cap = Duration::from_secs(24 * 3600);
            let timespec = remaining.map(|left| {
                Timespec::try_from(left.min(cap)).expect("a capped duration fits a timespec")
            });
            match poll(&mut fds, timespec.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(err) => return Err(context(err.into(), "poll on the readiness channel")),
            }
            exited = !fds[1].revents().is_empty();
        }
    }

    /// The descriptor to poll for this source.
    fn channel(&self) -> BorrowedFd<'_> {
        match self {
            ReadySource::Notify(listener) => listener.as_fd(),
            ReadySource::Fd(fd) => fd.as_fd(),
        }
    }

    /// Reads everything that is waiting; returns an outcome if the wait is over.
    fn drain(
        &self,
        seen: &mut Seen,
        deadline: &mut Option<Instant>,
        on_message: &mut impl FnMut(&Notification),
    ) -> io::Result<Option<ReadyOutcome>> {
        match self {
            ReadySource::Notify(listener) => {
                while let Some(n) = listener.recv()? {
                    on_message(&n);
                    if let Some(pid) = n.main_pid {
                        seen.main_pid = Some(pid);
                    }
                    if let Some(status) = &n.status {
                        seen.status = Some(status.clone());
                    }
                    if let Some(extension) = n.extend_timeout
                        && let (Some(current), Some(extended)) =
                            (*deadline, Instant::now().checked_add(extension))
                    {
                        *deadline = Some(current.max(extended));
                    }
                    if n.ready {
                        return Ok(Some(ReadyOutcome::Ready {
                            main_pid: seen.main_pid,
                            status: seen.status.take(),
                        }));
                    }
                    if let Some(errno) = n.errno.filter(|&e| e > 0) {
                        return Ok(Some(ReadyOutcome::Failed {
                            errno,
                            status: seen.status.take(),
                        }));
                    }
                }
                Ok(None)
            }
            ReadySource::Fd(fd) => {
                let mut buf = [0u8; 256];
                // Bounded, so that a child writing without end cannot hold the wait.
                for _ in 0..64 {
                    match rustix::io::read(fd, &mut buf) {
                        Ok(0) => return Ok(Some(ReadyOutcome::Closed)),
                        Ok(n) if buf[..n].contains(&b'\n') => {
                            return Ok(Some(ReadyOutcome::Ready {
                                main_pid: None,
                                status: None,
                            }));
                        }
                        Ok(_) => continue,
                        Err(rustix::io::Errno::INTR) => continue,
                        Err(rustix::io::Errno::AGAIN) => return Ok(None),
                        Err(err) => {
                            return Err(context(err.into(), "read from the notify-fd pipe"));
                        }
                    }
                }
                Ok(None)
            }
        }
    }
}

/// How long an end of file on the notify fd waits for the child's pidfd: the kernel closes
/// an exiting process's descriptors a moment before it reports the exit.
const CLOSE_GRACE: Duration = Duration::from_millis(100);

/// Whether the pidfd becomes readable (the process exits) within `within` (poll(2), retried
/// on `EINTR` with the time left).
fn has_exited(pidfd: BorrowedFd<'_>, within: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timespec = Timespec::try_from(left).expect("a short duration fits a timespec");
        let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
        match poll(&mut fds, Some(&timespec)) {
            Ok(ready) => return Ok(ready > 0),
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => return Err(context(err.into(), "poll on the child's pidfd")),
        }
    }
}

/// What the messages of one wait said so far.
#[derive(Default)]
struct Seen {
    main_pid: Option<u32>,
    status: Option<String>,
}

/// fcntl(2) `F_SETFL` adding `O_NONBLOCK`.
fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)
        .map_err(|e| context(e.into(), "making the notify-fd pipe non-blocking"))
}
