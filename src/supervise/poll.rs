//! The one wait of the supervision loop: `poll(2)` on the signalfd, the child's pidfd and at
//! most one more descriptor (the readiness channel), until a deadline.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use std::os::fd::AsFd;

use rustix::event::{PollFd, PollFlags};

use super::Supervised;
use crate::notify::poll_until;

/// Which descriptors [`wait`] found readable.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Readable {
    /// The signalfd: call [`Supervised::handle_signals`].
    pub(crate) signals: bool,
    /// The extra descriptors, in the order given.
    pub(crate) extra: [bool; MAX_EXTRA],
    /// The child's pidfd (polled when `exit` was set): the child has exited, so
    /// `waitpid(2)` will have its status. Until it is set there is no status to collect.
    pub(crate) exited: bool,
}

/// How many extra descriptors [`wait`] takes.
pub(crate) const MAX_EXTRA: usize = 3;

/// `poll(2)` on the child's signalfd, on its pidfd (when `exit` is set: a reaped child's
/// pidfd stays readable) and on up to [`MAX_EXTRA`] more descriptors, until one is readable
/// or the deadline passes (`None`: no deadline), retrying `EINTR` with the time left. Nothing
/// readable means the deadline passed.
pub(crate) fn wait(
    child: &Supervised,
    extra: &[BorrowedFd<'_>],
    deadline: Option<Instant>,
    exit: bool,
) -> io::Result<Readable> {
    let (signals, pidfd) = (child.signal_fd(), child.pidfd());
    // Signals first, then the extra ones, then the pidfd. (A reaped child's pidfd reports
    // POLLHUP whatever was asked, so it is left out, not muted.)
    let extra = &extra[..extra.len().min(MAX_EXTRA)];
    let mut fds = Vec::with_capacity(MAX_EXTRA + 2);
    fds.push(PollFd::new(&signals, PollFlags::IN));
    fds.extend(
        extra
            .iter()
            .map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN)),
    );
    if exit {
        fds.push(PollFd::from_borrowed_fd(pidfd, PollFlags::IN));
    }
    // The command's captured stderr, drained here whichever loop polls.
    let capture = child.capture.as_ref();
    if let Some(c) = capture {
        fds.push(PollFd::from_borrowed_fd(c.as_fd(), PollFlags::IN));
    }
    let ready = poll_until(&mut fds, deadline)?;
    if let Some(c) = capture
        && ready > 0
        && !fds[fds.len() - 1].revents().is_empty()
    {
        c.drain();
    }
    let readable = |i: usize| ready > 0 && !fds[i].revents().is_empty();
    let mut out = Readable {
        signals: readable(0),
        exited: exit && readable(1 + extra.len()),
        ..Readable::default()
    };
    for i in 0..extra.len() {
        out.extra[i] = readable(1 + i);
    }
    Ok(out)
}
