//! Running the command so that it cannot outlive the lock: it dies with pidward, and it is
//! stopped (TERM, then KILL after the grace) as soon as the lease keeper declares the lock lost.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use pidward::cluster::Lock;
use pidward::supervise::{Supervised, exit_code};
use pidward::time::Rfc3339;
use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::super::{Failure, Name, OS_ERROR, os_text};
use super::cluster::chain;

/// `prctl(PR_SET_PDEATHSIG, SIGKILL)` in the child, between fork and exec: the command dies
/// when the thread that forked it (this one, which lives as long as pidward) does.
pub(super) fn die_with_us(cmd: &mut Command) {
    // SAFETY: getpid(2) has no preconditions.
    let parent = unsafe { libc::getpid() };
    let hook = move || {
        // Runs between fork(2) and execve(2): prctl(2) and getppid(2) only, no allocation,
        // so it is async-signal-safe.
        // SAFETY: plain prctl(2) call with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) } == -1 {
            return Err(std::io::Error::last_os_error());
        }
        // The parent may have died before the prctl: then no signal will ever come.
        // SAFETY: getppid(2) has no preconditions.
        if unsafe { libc::getppid() } != parent {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(())
    };
    // SAFETY: the hook is async-signal-safe (above).
    unsafe { cmd.pre_exec(hook) };
}

/// `kill(2)` to the command's process group, whose leader is still unreaped (so the group
/// ID cannot have been reused).
fn signal_group(child: &Supervised, signo: i32) {
    // SAFETY: kill(2) with a negative PID signals the group our unreaped child leads.
    unsafe { libc::kill(-(child.pid() as libc::pid_t), signo) };
}

/// Wait for the command, forwarding signals; on loss TERM, then KILL after `grace`.
/// Returns the command's exit code and whether the lock was lost.
pub(super) fn supervise(
    name: &Name,
    lock_name: &str,
    lock: &Lock,
    mut child: Supervised,
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
            signal_group(&child, libc::SIGTERM);
            kill_at = Some(Instant::now() + grace);
        }
        if let Some(t) = kill_at
            && Instant::now() >= t
        {
            signal_group(&child, libc::SIGKILL);
            kill_at = None;
        }
        if exited || sig {
            if lost && exited {
                // Nothing of the command outlives the lock: the rest of its group too.
                signal_group(&child, libc::SIGKILL);
            }
            if let Some(status) = child.try_wait().map_err(os_error)? {
                return Ok((exit_code(status), lost));
            }
        }
    }
}
