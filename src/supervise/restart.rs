//! Restart policies with backoff, and the wait between two runs.
//!
//! [`Restart::next`] decides, from how a run ended and how long it ran, whether the service
//! starts again and after what delay: the delay starts at [`Restart::delay`], doubles after
//! each failed run up to [`Restart::max_delay`], gets a uniform jitter of
//! ±[`Restart::jitter`] (so that services that failed together do not restart in step), and
//! falls back to the first delay after a run that lasted [`Restart::reset_after`]. A run ended
//! by an administrative stop (the supervisor got `TERM`, `INT` or `QUIT`) is never restarted;
//! neither is a start whose set-up or exec failed (the caller does not ask).
//!
//! [`wait_backoff`] sleeps out the delay in `poll(2)` on a signalfd of the signals the
//! supervisor keeps blocked across runs (so that no window exists where `TERM` kills it):
//! `TERM`, `INT` or `QUIT` end the wait at once (nothing waits out a restart delay to stop),
//! `HUP` starts the service now, and other signals are dropped (there is no command to pass
//! them to). All timers use the monotonic clock.

use std::io;
use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use rustix::event::PollFlags;

use super::sigset::{SigSet, read_siginfo};
use crate::Signal;

/// Which ends of a run start the service again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Policy {
    /// Never (the default).
    #[default]
    No,
    /// After an unclean end: a non-zero exit code, or death by a signal.
    OnFailure,
    /// After any end but an administrative stop.
    Always,
}

/// A restart policy with its backoff.
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::ExitStatus;
/// use std::time::Duration;
/// use pidward::supervise::{Policy, Restart};
///
/// let mut restart = Restart::new(Policy::OnFailure).jitter(0.0);
/// let failed = ExitStatus::from_raw(1 << 8);
/// let short = Duration::from_millis(100);
/// assert_eq!(restart.next(failed, short, false), Some(Duration::from_secs(1)));
/// assert_eq!(restart.next(failed, short, false), Some(Duration::from_secs(2)));
/// assert_eq!(restart.next(ExitStatus::from_raw(0), short, false), None);
/// assert_eq!(restart.next(failed, short, true), None); // an administrative stop
/// ```
#[derive(Debug, Clone)]
pub struct Restart {
    policy: Policy,
    delay: Duration,
    max_delay: Duration,
    jitter: f64,
    reset_after: Duration,
    next_delay: Duration,
    restarts: u64,
    seed: u64,
}

impl Restart {
    /// `policy` with a delay of 1 s doubling to 60 s, a jitter of 0.1, reset after 10 s.
    pub fn new(policy: Policy) -> Restart {
        let seed = u64::from(std::process::id())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        Restart {
            policy,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            jitter: 0.1,
            reset_after: Duration::from_secs(10),
            next_delay: Duration::from_secs(1),
            restarts: 0,
            seed: seed | 1,
        }
    }

    /// The first delay (default 1 s).
    pub fn delay(mut self, delay: Duration) -> Restart {
        self.delay = delay;
        self.next_delay = delay;
        self
    }

    /// The largest delay the doubling reaches (default 60 s).
    pub fn max_delay(mut self, max: Duration) -> Restart {
        self.max_delay = max;
        self
    }

    /// The jitter, as a fraction of the delay (default 0.1: ±10 %, uniform).
    pub fn jitter(mut self, fraction: f64) -> Restart {
        self.jitter = fraction.clamp(0.0, 1.0);
        self
    }

    /// How long a run must last for the backoff to start over (default 10 s).
    pub fn reset_after(mut self, after: Duration) -> Restart {
        self.reset_after = after;
        self
    }

    /// The policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// How many restarts were decided so far.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Whether a run that ended with `status` after `ran` starts again, and after what delay.
    /// `stopped` says that the supervisor was told to stop (never restarted).
    pub fn next(&mut self, status: ExitStatus, ran: Duration, stopped: bool) -> Option<Duration> {
        let again = match self.policy {
            Policy::No => false,
            Policy::OnFailure => !status.success(),
            Policy::Always => true,
        };
        if stopped || !again {
            return None;
        }
        if ran >= self.reset_after {
            self.next_delay = self.delay;
        }
        let base = self.next_delay;
        self.next_delay = (base * 2).min(self.max_delay).max(self.delay);
        self.restarts += 1;
        Some(self.jittered(base))
    }

    /// `d` times a uniform factor in [1 - jitter, 1 + jitter] (xorshift64).
    fn jittered(&mut self, d: Duration) -> Duration {
        if self.jitter == 0.0 || d.is_zero() {
            return d;
        }
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let unit = (self.seed >> 11) as f64 / (1u64 << 53) as f64;
        d.mul_f64(1.0 + self.jitter * (2.0 * unit - 1.0))
    }
}

/// How [`wait_backoff`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wake {
    /// The delay is over: start again.
    Elapsed,
    /// `HUP`: start again now.
    Now,
    /// `TERM`, `INT` or `QUIT`: stop, do not start again.
    Stop(Signal),
}

/// The signals an administrative stop is made of.
pub const STOP_SIGNALS: [Signal; 3] = [Signal::TERM, Signal::INT, Signal::QUIT];

/// Waits out `delay` between two runs (module docs), with the signals of `forward` blocked
/// (as a [`Supervisor`](super::Supervisor) with `keep_blocked` leaves them).
pub fn wait_backoff(delay: Duration, forward: &[Signal]) -> io::Result<Wake> {
    let mut set = SigSet::empty();
    for s in forward.iter().chain(&STOP_SIGNALS).chain([&Signal::HUP]) {
        set.add(s.as_raw())?;
    }
    set.block()?;
    let fd = set.signalfd()?;
    let deadline = Instant::now().checked_add(delay);
    loop {
        while let Some(info) = read_siginfo(&fd)? {
            match Signal::from_raw(info.ssi_signo as i32) {
                Some(s) if STOP_SIGNALS.contains(&s) => return Ok(Wake::Stop(s)),
                Some(Signal::HUP) => return Ok(Wake::Now),
                _ => {}
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Wake::Elapsed);
        }
        crate::sys::poll_fd_until(fd.as_fd(), PollFlags::IN, deadline)?;
    }
}
