//! Retrying a failed system call of the supervision loop or of a stop, before giving up.
//!
//! A supervisor that exits on the first error of a `poll(2)`, a `read(2)` of its signalfd, a
//! `pidfd_send_signal(2)`, a `waitid(2)` or a write to `cgroup.kill` leaves its service
//! running with nobody watching it. Those calls fail for passing reasons (`ENOMEM`, `EIO`
//! from a file system under pressure, `EAGAIN` from a kernel short of resources), so each is
//! tried [`TRIES`] times, [`PAUSE`] apart, before the caller treats it as failed: `EINTR` is
//! retried at once and not counted, and the errors that are answers rather than failures
//! (`ESRCH` from a signal to a process that has exited, `ECHILD`, `EAGAIN` from an empty
//! non-blocking signalfd) are the caller's to turn into `Ok` before they get here.
//!
//! Giving up on one call does not end the stop: the caller goes on with the stop schedule
//! (the next signal, the next wait, `SIGKILL` through `cgroup.kill`), and only a service that
//! outlives all of it is reported as left behind ([`super::Error::GaveUp`]).
//!
//! | | |
//! |---|---|
//! | tries | [`TRIES`] = 5 (the first and four more) |
//! | pause | [`PAUSE`] = 10 ms between tries (40 ms at most in all) |
//! | `EINTR` | retried at once, not counted |

use std::io;
use std::time::Duration;

/// How many times a failing call is made before the caller is told it failed.
pub(crate) const TRIES: u32 = 5;

/// The pause between two tries.
pub(crate) const PAUSE: Duration = Duration::from_millis(10);

/// Calls `op` until it succeeds, at most [`TRIES`] times (`EINTR` retried at once and not
/// counted), [`PAUSE`] apart; the last error if none succeeded.
pub(crate) fn retry<T>(op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    retry_except(&[], op)
}

/// [`retry`], but the errors numbered in `answers` (`ESRCH`, `EPERM`: what the call says,
/// not a passing failure) are returned at once.
pub(crate) fn retry_except<T>(
    answers: &[i32],
    mut op: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    let mut tries = 0;
    loop {
        match op() {
            Ok(v) => return Ok(v),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error().is_some_and(|n| answers.contains(&n)) => return Err(e),
            Err(e) => {
                tries += 1;
                if tries >= TRIES {
                    return Err(e);
                }
                std::thread::sleep(PAUSE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passing_failure_is_retried() {
        let mut calls = 0;
        let r = retry(|| {
            calls += 1;
            if calls < 3 {
                Err(io::Error::from_raw_os_error(libc::ENOMEM))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 3);
    }

    #[test]
    fn a_lasting_failure_is_given_up_after_the_tries() {
        let mut calls = 0;
        let r: io::Result<()> = retry(|| {
            calls += 1;
            Err(io::Error::from_raw_os_error(libc::EIO))
        });
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EIO));
        assert_eq!(calls, TRIES);
    }

    #[test]
    fn an_answer_is_not_retried() {
        let mut calls = 0;
        let r: io::Result<()> = retry_except(&[libc::ESRCH], || {
            calls += 1;
            Err(io::Error::from_raw_os_error(libc::ESRCH))
        });
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ESRCH));
        assert_eq!(calls, 1);
    }

    #[test]
    fn eintr_is_not_counted() {
        let mut calls = 0;
        let r = retry(|| {
            calls += 1;
            match calls {
                1..=7 => Err(io::Error::from_raw_os_error(libc::EINTR)),
                _ => Ok(()),
            }
        });
        assert!(r.is_ok());
        assert_eq!(calls, 8);
    }
}
