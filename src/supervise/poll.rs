//! The one wait of the supervision loop: `poll(2)` on the signalfd, the child's pidfd and at
//! most one more descriptor (the readiness channel), until a deadline.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use rustix::event::{PollFd, PollFlags};

use super::Supervised;
use crate::notify::poll_until;

/// Which descriptors [`wait`] found readable.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Readable {
    /// The signalfd: call [`Supervised::handle_signals`].
    pub(crate) signals: bool,
    /// The extra descriptor.
    pub(crate) extra: bool,
}

/// `poll(2)` on the child's signalfd, on its pidfd (when `exit` is set: a reaped child's
/// pidfd stays readable) and on `extra`, until one is readable or the deadline passes
/// (`None`: no deadline), retrying `EINTR` with the time left. Nothing readable means the
/// deadline passed.
pub(crate) fn wait(
    child: &Supervised,
    extra: Option<BorrowedFd<'_>>,
    deadline: Option<Instant>,
    exit: bool,
) -> io::Result<Readable> {
    let (signals, pidfd) = (child.signal_fd(), child.pidfd());
    // In this order, so that the ones left out are at the end: signals, extra, pidfd. (A
    // reaped child's pidfd reports POLLHUP whatever was asked, so it is left out, not muted.)
    let mut fds = [
        PollFd::new(&signals, PollFlags::IN),
        PollFd::new(&signals, PollFlags::IN),
        PollFd::new(&signals, PollFlags::IN),
    ];
    let mut n = 1;
    let extra_at = extra.map(|fd| {
        fds[n] = PollFd::from_borrowed_fd(fd, PollFlags::IN);
        n += 1;
        n - 1
    });
    if exit {
        fds[n] = PollFd::from_borrowed_fd(pidfd, PollFlags::IN);
        n += 1;
    }
    let ready = poll_until(&mut fds[..n], deadline)?;
    let readable =
        |at: Option<usize>| at.is_some_and(|i| ready > 0 && !fds[i].revents().is_empty());
    Ok(Readable {
        signals: readable(Some(0)),
        extra: readable(extra_at),
    })
}
