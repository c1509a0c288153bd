//! The non-blocking readiness wait: [`ReadyWatch`] reads what the channel has to say whenever
//! the caller's poll loop finds it readable, and owns the deadline.
//!
//! A supervisor polls many descriptors at once (its signalfd, the child's pidfd, the
//! readiness channel), so the readiness wait cannot block. [`ReadyWatch::poll`] never waits
//! for a message: it drains the channel, applies `EXTEND_TIMEOUT_USEC=` (the deadline moves
//! to at least *now + the extension*, as systemd does), and says whether the start is over.
//! [`ReadyWatch::deadline`] is what the caller's `poll(2)` waits for at most.
//!
//! Order matters at the child's exit. The pidfd is looked at *before* the channel is drained:
//! a message the child sent before exiting is then already queued, so a child that sends
//! `READY=1` and exits at once is still seen as ready. A dying child closes the notify-fd
//! pipe a moment before its pidfd reports the exit, so an end of file is weighed against the
//! pidfd for up to [`CLOSE_GRACE`] before it counts as "closed by a child that lives on".

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::error::{Call, Error};
use super::message::Notification;
use super::ready::{ReadyOutcome, ReadySource};

/// How long an end of file on the notify fd waits for the child's pidfd: the kernel closes
/// an exiting process's descriptors a moment before it reports the exit.
pub const CLOSE_GRACE: Duration = Duration::from_millis(100);

/// A readiness wait in progress, for a caller that runs its own `poll(2)` loop.
///
/// ```
/// use std::os::fd::AsFd;
/// use std::time::Duration;
/// use pidward::notify::{ReadyOutcome, ReadySource, ReadyWatch};
///
/// let (source, write_end) = ReadySource::pipe()?;
/// let mut watch = ReadyWatch::new(source, Duration::from_secs(5))?;
/// // Any pidfd will do for the example: this process's own never becomes readable.
/// let me = rustix::process::pidfd_open(
///     rustix::process::getpid(),
///     rustix::process::PidfdFlags::empty(),
/// )?;
/// assert_eq!(watch.poll(me.as_fd(), |_| {})?, None); // nothing yet: never blocks
/// rustix::io::write(&write_end, b"\n")?; // what the child does on fd N
/// let outcome = watch.poll(me.as_fd(), |_| {})?;
/// assert_eq!(outcome, Some(ReadyOutcome::Ready { main_pid: None, status: None }));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ReadyWatch {
    source: ReadySource,
    state: WatchState,
}

impl ReadyWatch {
    /// Starts watching `source` with a deadline `timeout` from now (a timeout too large to
    /// represent has no deadline). Puts a notify-fd pipe in non-blocking mode.
    pub fn new(source: ReadySource, timeout: Duration) -> Result<ReadyWatch, Error> {
        let state = WatchState::new(&source, timeout)?;
        Ok(ReadyWatch { source, state })
    }

    /// The current deadline (moved by `EXTEND_TIMEOUT_USEC=`); `None`: none.
    pub fn deadline(&self) -> Option<Instant> {
        self.state.deadline
    }

    /// The last `STATUS=` received so far, if any.
    pub fn status(&self) -> Option<&str> {
        self.state.status.as_deref()
    }

    /// The channel being watched.
    pub fn source(&self) -> &ReadySource {
        &self.source
    }

    /// The channel, to keep reading a listener after the start is over.
    pub fn into_source(self) -> ReadySource {
        self.source
    }

    /// Reads everything waiting on the channel, without blocking, and says whether the start
    /// is over: `Some` outcome, or `None` to poll again (until [`deadline`]).
    ///
    /// `child` is the started process's pidfd; `on_message` sees every accepted sd_notify
    /// message before it is acted on. Returns `Err` only when a system call fails.
    ///
    /// [`deadline`]: ReadyWatch::deadline
    pub fn poll(
        &mut self,
        child: BorrowedFd<'_>,
        mut on_message: impl FnMut(&Notification),
    ) -> Result<Option<ReadyOutcome>, Error> {
        self.state.poll(&self.source, child, &mut on_message)
    }
}

impl AsFd for ReadyWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.source.as_fd()
    }
}

/// The deadline and what the messages said so far.
#[derive(Debug)]
pub(super) struct WatchState {
    pub(super) deadline: Option<Instant>,
    main_pid: Option<u32>,
    status: Option<String>,
}

impl WatchState {
    pub(super) fn new(source: &ReadySource, timeout: Duration) -> Result<WatchState, Error> {
        if let ReadySource::Fd(fd) = source {
            crate::sys::set_nonblocking(fd.as_fd(), true).map_err(Error::sys(Call::Nonblocking))?;
        }
        Ok(WatchState {
            deadline: Instant::now().checked_add(timeout),
            main_pid: None,
            status: None,
        })
    }

    /// [`ReadyWatch::poll`] on `source`.
    pub(super) fn poll(
        &mut self,
        source: &ReadySource,
        child: BorrowedFd<'_>,
        on_message: &mut impl FnMut(&Notification),
    ) -> Result<Option<ReadyOutcome>, Error> {
        // The exit is looked at first: what the child sent before it is queued by now.
        let exited = has_exited(child, Duration::ZERO)?;
        match self.drain(source, on_message)? {
            Some(ReadyOutcome::Closed) if exited || has_exited(child, CLOSE_GRACE)? => {
                // A dying child closes its descriptors before it becomes a zombie: the end
                // of file was its death, not a choice.
                return Ok(Some(ReadyOutcome::ChildExited));
            }
            Some(outcome) => return Ok(Some(outcome)),
            None => {}
        }
        if exited {
            return Ok(Some(ReadyOutcome::ChildExited));
        }
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Ok(Some(ReadyOutcome::Timeout)),
            _ => Ok(None),
        }
    }

    /// Reads everything that is waiting; returns an outcome if the wait is over.
    fn drain(
        &mut self,
        source: &ReadySource,
        on_message: &mut impl FnMut(&Notification),
    ) -> Result<Option<ReadyOutcome>, Error> {
        match source {
            ReadySource::Probe(probe) => Ok(probe.poll()?.then_some(ReadyOutcome::Ready {
                main_pid: None,
                status: None,
            })),
            ReadySource::Notify(listener) => {
                while let Some(n) = listener.recv()? {
                    on_message(&n);
                    if let Some(outcome) = self.apply(&n) {
                        return Ok(Some(outcome));
                    }
                }
                Ok(None)
            }
            ReadySource::Fd(fd) => {
                let mut buf = [0u8; 256];
                // Bounded, so that a child writing without end cannot hold the caller.
                for _ in 0..64 {
                    match rustix::io::read(fd, &mut buf) {
                        Ok(0) => return Ok(Some(ReadyOutcome::Closed)),
                        Ok(n) if buf[..n].contains(&b'\n') => {
                            return Ok(Some(ReadyOutcome::Ready {
                                main_pid: None,
                                status: None,
                            }));
                        }
                        Ok(_) | Err(rustix::io::Errno::INTR) => continue,
                        Err(rustix::io::Errno::AGAIN) => return Ok(None),
                        Err(err) => {
                            return Err(Error::sys(Call::ReadPipe)(err));
                        }
                    }
                }
                Ok(None)
            }
        }
    }

    /// Records what one message says; the outcome if it ends the wait.
    fn apply(&mut self, n: &Notification) -> Option<ReadyOutcome> {
        if let Some(pid) = n.main_pid {
            self.main_pid = Some(pid);
        }
        if let Some(status) = &n.status {
            self.status = Some(status.clone());
        }
        if let Some(extension) = n.extend_timeout
            && let (Some(current), Some(extended)) =
                (self.deadline, Instant::now().checked_add(extension))
        {
            self.deadline = Some(current.max(extended));
        }
        if n.ready {
            return Some(ReadyOutcome::Ready {
                main_pid: self.main_pid,
                status: self.status.clone(),
            });
        }
        n.errno
            .filter(|&e| e > 0)
            .map(|errno| ReadyOutcome::Failed {
                errno,
                status: self.status.clone(),
            })
    }
}

/// Whether the pidfd becomes readable (the process exits) within `within`.
fn has_exited(pidfd: BorrowedFd<'_>, within: Duration) -> Result<bool, Error> {
    let revents = crate::sys::poll_fd_until(pidfd, PollFlags::IN, Some(Instant::now() + within))
        .map_err(Error::sys(Call::PollPidfd))?;
    Ok(!revents.is_empty())
}

/// `poll(2)` on `fds` until one is ready or `deadline` passes (`None`: no deadline), retrying
/// `EINTR` with the time left; returns how many are ready (0: the deadline passed).
pub(crate) fn poll_until(fds: &mut [PollFd<'_>], deadline: Option<Instant>) -> io::Result<usize> {
    loop {
        // poll(2) rounds its timeout up, so waking early only means a descriptor is ready; a
        // timeout beyond a day is capped and re-armed.
        let timeout = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            Timespec::try_from(left.min(Duration::from_secs(24 * 3600)))
                .expect("a capped duration fits a timespec")
        });
        match poll(fds, timeout.as_ref()) {
            Ok(0) if deadline.is_some_and(|d| Instant::now() < d) => continue,
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
