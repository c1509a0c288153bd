//! Waiting for one descriptor until a deadline.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

/// [`poll(2)`] on one fd until `deadline` (`None`: forever), retrying `EINTR` with the
/// remaining time.
///
/// Returns the revents the kernel reported (`POLLHUP`, `POLLERR` and `POLLNVAL` included even
/// when not asked for), or an empty set once the deadline has passed. A deadline already in the
/// past polls once with a zero timeout. rustix's `poll` takes a `timespec` (it is `ppoll` on
/// Linux), so there is no millisecond rounding, and an early wake-up without events (which
/// some kernels allow) simply polls again for what is left.
///
/// [`poll(2)`]: https://man7.org/linux/man-pages/man2/poll.2.html
pub fn poll_fd_until(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    deadline: Option<Instant>,
) -> io::Result<PollFlags> {
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let timeout = left.map(timespec);
        let mut fds = [PollFd::from_borrowed_fd(fd, events)];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) if left.is_some_and(|l| l.is_zero()) => return Ok(PollFlags::empty()),
            Ok(0) => continue,
            Ok(_) => return Ok(fds[0].revents()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A duration as a `timespec`, saturating at the largest one (centuries, not a bug).
fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: d.subsec_nanos().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn readable_pipe_reports_in() {
        let (r, w) = std::io::pipe().unwrap();
        (&w).write_all(b"x").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let got = poll_fd_until(r.as_fd(), PollFlags::IN, Some(deadline)).unwrap();
        assert!(got.contains(PollFlags::IN));
    }

    #[test]
    fn deadline_passes_with_no_events() {
        let (r, _w) = std::io::pipe().unwrap();
        let start = Instant::now();
        let deadline = start + Duration::from_millis(30);
        let got = poll_fd_until(r.as_fd(), PollFlags::IN, Some(deadline)).unwrap();
        assert!(got.is_empty());
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn past_deadline_polls_once() {
        let (r, _w) = std::io::pipe().unwrap();
        let past = Instant::now() - Duration::from_secs(1);
        assert!(
            poll_fd_until(r.as_fd(), PollFlags::IN, Some(past))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn closed_writer_reports_hangup_without_asking() {
        let (r, w) = std::io::pipe().unwrap();
        drop(w);
        let got = poll_fd_until(r.as_fd(), PollFlags::IN, None).unwrap();
        assert!(got.contains(PollFlags::HUP));
    }
}
