//! Running the command so that it cannot outlive the lock: it dies with pidward, and it is
//! stopped (TERM, then KILL after the grace) as soon as the lease keeper declares the lock lost.
//!
//! The command runs in a process group of its own (`group.rs`), so that the whole of it can
//! be stopped. When pidward runs in the foreground of a terminal, that group gets the terminal
//! for as long as the command runs (as a shell gives it to a job), and pidward takes it back
//! afterwards.

use std::time::{Duration, Instant};

use pidward::cluster::Lock;
use pidward::supervise::{Supervised, exit_code};
use pidward::time::Rfc3339;
use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::super::{Failure, Name, OS_ERROR, os_text};
use super::cluster::chain;
use super::group::Group;

/// Whether our process group owns the terminal on stdin (`tcgetpgrp(3)`). Then the command's
/// own group must get it, or a command that reads the terminal would stop on `SIGTTIN`.
pub(super) fn terminal_is_ours() -> bool {
    // SAFETY: isatty(3), tcgetpgrp(3) and getpgrp(2) on fd 0 have no preconditions.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// Give the terminal on stdin to process group `pgrp` (the command's, before the command
/// starts in it; ours, afterwards): `tcsetpgrp(3)` with `SIGTTOU` blocked
/// (`pthread_sigmask(3)`), so that a process outside the terminal's foreground group may hand
/// it over without being stopped. Whether it was given.
pub(super) fn give_terminal(pgrp: libc::pid_t) -> bool {
    // SAFETY: the sets are initialised by sigemptyset before use; the calls take valid
    // pointers to them and have no other preconditions.
    unsafe {
        let mut ttou: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut ttou);
        libc::sigaddset(&mut ttou, libc::SIGTTOU);
        libc::pthread_sigmask(libc::SIG_BLOCK, &ttou, &mut old);
        let done = libc::tcsetpgrp(0, pgrp) == 0;
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        done
    }
}

/// Take the terminal back for our own group once the command is done.
pub(super) fn take_terminal_back() {
    // SAFETY: getpgrp(2) has no preconditions.
    give_terminal(unsafe { libc::getpgrp() });
}

/// Wait for the command, forwarding signals; on loss TERM, then KILL after `grace`.
/// Returns the command's exit code and whether the lock was lost.
pub(super) fn supervise(
    name: &Name,
    lock_name: &str,
    lock: &Lock,
    mut child: Supervised,
    group: &Group,
    grace: Duration,
) -> Result<(u8, bool), Failure> {
    let os_error = |e: std::io::Error| Failure::new(OS_ERROR, format!("wait: {}", os_text(&e)));
    let mut kill_at: Option<Instant> = None;
    let mut lost = false;
    loop {
        let timeout = kill_at.map(|t| {
            let left = t.saturating_duration_since(Instant::now());
            Timespec {
                tv_sec: left.as_secs() as _,
                tv_nsec: left.subsec_nanos() as _,
            }
        });
        let (sig, exited, gone) = {
            let mut fds = [
                PollFd::from_borrowed_fd(child.signal_fd(), PollFlags::IN),
                PollFd::from_borrowed_fd(child.pidfd(), PollFlags::IN),
                PollFd::from_borrowed_fd(lock.lost_fd(), PollFlags::IN),
            ];
            match poll(&mut fds, timeout.as_ref()) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(os_error(e.into())),
            }
            let ready = |i: usize| !fds[i].revents().is_empty();
            (ready(0), ready(1), ready(2))
        };
        if sig {
            child.handle_signals().map_err(os_error)?;
        }
        if gone && !lost {
            lost = true;
            let why = lock.loss().map(|l| {
                let at = Rfc3339(l.at);
                match &l.error {
                    Some(e) => format!("at {at}: {l} ({})", chain(e.as_ref())),
                    None => format!("at {at}: {l}"),
                }
            });
            eprintln!(
                "{}: lost the lock {lock_name} {}; stopping the command (SIGTERM, SIGKILL after \
                 {:.1}s)",
                name.0,
                why.unwrap_or_default(),
                grace.as_secs_f64()
            );
            group.signal(libc::SIGTERM);
            kill_at = Some(Instant::now() + grace);
        }
        if let Some(t) = kill_at
            && Instant::now() >= t
        {
            group.signal(libc::SIGKILL);
            kill_at = None;
        }
        if exited || sig {
            if lost && exited {
                // Nothing of the command outlives the lock: the rest of its group too.
                group.signal(libc::SIGKILL);
            }
            if let Some(status) = child.try_wait().map_err(os_error)? {
                return Ok((exit_code(status), lost));
            }
        }
    }
}
