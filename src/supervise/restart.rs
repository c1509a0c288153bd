//! The backoff between runs, the limit of failures, and the wait between two runs.
//!
//! [`Restart::next`] decides, from how a run ended ([`Cause`], see [`super::policy`]) and how
//! long it ran, whether the service starts again and after what delay: the delay starts at
//! [`Restart::delay`], doubles after each restart up to [`Restart::max_delay`], gets a
//! uniform jitter of ±[`Restart::jitter`] (so that services that failed together do not
//! restart in step), and falls back to the first delay after a run that lasted
//! [`Restart::reset_after`] (the caller counts from readiness when the start waits for it).
//! [`Restart::limit`] gives up after N failures in a row (a clean end or a run that lasted
//! the reset time ends a row), or N within a window of time. A run ended by an administrative
//! stop (the supervisor got `TERM`, `INT` or `QUIT`) is never restarted, nor one whose status
//! is in [`Restart::prevent`]; neither is a start whose set-up or exec failed (the caller
//! does not ask).
//!
//! [`wait_backoff`] sleeps out the delay in `poll(2)` on a signalfd of the signals the
//! supervisor keeps blocked across runs (so that no window exists where `TERM` kills it):
//! `TERM`, `INT` or `QUIT` end the wait at once (nothing waits out a restart delay to stop),
//! `HUP` starts the service now, and other signals are dropped (there is no command to pass
//! them to). All timers use the monotonic clock.

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use super::observe::Observe;

use super::policy::{Cause, ExitSet, Policy};
use super::sigset::{SigSet, read_siginfo};
use crate::Signal;

/// What [`Restart::next`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// Start again after this delay.
    After(Duration),
    /// Do not start again: the policy does not cover the end, its status is in the prevent
    /// set, or the supervisor was told to stop.
    Done,
    /// The policy would start again, but the limit of failures is reached: give up.
    GaveUp,
}

/// A restart policy with its backoff and its limit.
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::ExitStatus;
/// use std::time::Duration;
/// use pidward::supervise::{Cause, Next, Policy, Restart};
///
/// let mut restart = Restart::new(Policy::OnFailure).jitter(0.0).limit(3, None);
/// let short = Duration::from_millis(100);
/// let failed = ExitStatus::from_raw(1 << 8);
/// assert_eq!(restart.next(failed, Cause::Code, short, false), Next::After(Duration::from_secs(1)));
/// assert_eq!(restart.next(failed, Cause::Code, short, false), Next::After(Duration::from_secs(2)));
/// assert_eq!(restart.next(failed, Cause::Code, short, false), Next::GaveUp);
/// assert_eq!(restart.next(ExitStatus::from_raw(0), Cause::Clean, short, false), Next::Done);
/// assert_eq!(restart.next(failed, Cause::Code, short, true), Next::Done); // a stop
/// ```
#[derive(Debug, Clone)]
pub struct Restart {
    /// On the heap: a policy is built by value, a call at a time, and handed to the
    /// lifecycle; boxed, each move is a pointer's, not 270 bytes more of a supervisor's stack.
    parts: Box<Parts>,
}

/// A [`Restart`] policy's settings and what it has counted.
#[derive(Debug, Clone)]
struct Parts {
    policy: Policy,
    delay: Duration,
    max_delay: Duration,
    jitter: f64,
    reset_after: Duration,
    success: ExitSet,
    prevent: ExitSet,
    remap: ExitSet,
    limit: Option<(u32, Option<Duration>)>,
    next_delay: Duration,
    restarts: u64,
    consecutive: u32,
    /// When the recent failures happened (as many as the limit counts).
    failures: VecDeque<Instant>,
    seed: u64,
}

impl Restart {
    /// `policy` with a delay of 1 s doubling to 60 s, a jitter of 0.1, reset after 10 s, no
    /// limit.
    pub fn new(policy: Policy) -> Restart {
        let seed = u64::from(std::process::id())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        Restart {
            parts: Box::new(Parts {
                policy,
                delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(60),
                jitter: 0.1,
                reset_after: Duration::from_secs(10),
                success: ExitSet::default(),
                prevent: ExitSet::default(),
                remap: ExitSet::default(),
                limit: None,
                next_delay: Duration::from_secs(1),
                restarts: 0,
                consecutive: 0,
                failures: VecDeque::new(),
                seed: seed | 1,
            }),
        }
    }

    /// The first delay (default 1 s).
    pub fn delay(mut self, delay: Duration) -> Restart {
        self.parts.delay = delay;
        self.parts.next_delay = delay;
        self
    }

    /// The largest delay the doubling reaches (default 60 s).
    pub fn max_delay(mut self, max: Duration) -> Restart {
        self.parts.max_delay = max;
        self
    }

    /// The jitter, as a fraction of the delay (default 0.1: ±10 %, uniform).
    pub fn jitter(mut self, fraction: f64) -> Restart {
        self.parts.jitter = fraction.clamp(0.0, 1.0);
        self
    }

    /// How long a run must last for the backoff to start over (default 10 s).
    pub fn reset_after(mut self, after: Duration) -> Restart {
        self.parts.reset_after = after;
        self
    }

    /// Exit codes and signals that count as a clean end (systemd's `SuccessExitStatus=`),
    /// besides code 0 and `HUP`, `INT`, `TERM`, `PIPE`.
    pub fn success(mut self, set: ExitSet) -> Restart {
        self.parts.success = set;
        self
    }

    /// Exit codes and signals after which the service is never started again, whatever the
    /// policy (systemd's `RestartPreventExitStatus=`, s6-permafailon's list).
    pub fn prevent(mut self, set: ExitSet) -> Restart {
        self.parts.prevent = set;
        self
    }

    /// An exit code that counts as success and becomes 0 in [`exit_code`](Restart::exit_code)
    /// (tini's `-e`).
    pub fn remap_exit(mut self, code: u8) -> Restart {
        self.parts.remap.add_code(code);
        self.parts.success.add_code(code);
        self
    }

    /// Give up after `failures` failed runs in a row, or, with `within`, after that many
    /// within that window of time (default: never; the backoff already bounds the rate).
    pub fn limit(mut self, failures: u32, within: Option<Duration>) -> Restart {
        self.parts.limit = Some((failures.max(1), within));
        self
    }

    /// The policy.
    pub fn policy(&self) -> Policy {
        self.parts.policy
    }

    /// The success set (with the remapped codes).
    pub fn success_set(&self) -> &ExitSet {
        &self.parts.success
    }

    /// How many restarts were decided so far.
    pub fn restarts(&self) -> u64 {
        self.parts.restarts
    }

    /// How many failed runs in a row so far (reset by a clean end or a long run).
    pub fn consecutive_failures(&self) -> u32 {
        self.parts.consecutive
    }

    /// The cause of a process's end under this policy's success set.
    pub fn cause(&self, status: ExitStatus) -> Cause {
        Cause::of(status, &self.parts.success)
    }

    /// The supervisor's exit code for the run that ended with `status`: 0 for a remapped
    /// code, otherwise [`exit_code`](super::exit_code).
    pub fn exit_code(&self, status: ExitStatus) -> u8 {
        match status.code() {
            Some(code) if self.parts.remap.has_code(code as u8) => 0,
            _ => super::exit_code(status),
        }
    }

    /// Whether a run that ended with `status` (of `cause`) after `ran` starts again, and
    /// after what delay. `stopped` says that the supervisor was told to stop (never
    /// restarted).
    pub fn next(&mut self, status: ExitStatus, cause: Cause, ran: Duration, stopped: bool) -> Next {
        if stopped {
            return Next::Done;
        }
        let long = ran >= self.parts.reset_after;
        if long {
            self.parts.next_delay = self.parts.delay;
        }
        if cause == Cause::Clean || long {
            self.parts.consecutive = 0;
        }
        if cause != Cause::Clean {
            self.parts.consecutive = self.parts.consecutive.saturating_add(1);
            self.parts.failures.push_back(Instant::now());
        }
        if self.parts.prevent.contains(status) || !self.parts.policy.covers(cause) {
            return Next::Done;
        }
        if cause != Cause::Clean && self.limit_reached() {
            return Next::GaveUp;
        }
        let base = self.parts.next_delay;
        self.parts.next_delay = (base * 2).min(self.parts.max_delay).max(self.parts.delay);
        self.parts.restarts += 1;
        Next::After(self.jittered(base))
    }

    /// Whether the failures counted so far reach the limit. This and `jittered` run only
    /// once a run has ended and may restart: out of line, so that they do not lie among
    /// the code every start runs (docs/benchmarks.md, "Start-up: the read-only data first…").
    #[inline(never)]
    fn limit_reached(&mut self) -> bool {
        let Some((n, within)) = self.parts.limit else {
            self.parts.failures.clear();
            return false;
        };
        while self.parts.failures.len() > n as usize {
            self.parts.failures.pop_front();
        }
        match within {
            None => self.parts.consecutive >= n,
            Some(window) => {
                let now = Instant::now();
                self.parts
                    .failures
                    .retain(|t| now.duration_since(*t) <= window);
                self.parts.failures.len() >= n as usize
            }
        }
    }

    /// `d` times a uniform factor in [1 - jitter, 1 + jitter] (xorshift64).
    #[inline(never)]
    fn jittered(&mut self, d: Duration) -> Duration {
        if self.parts.jitter == 0.0 || d.is_zero() {
            return d;
        }
        self.parts.seed ^= self.parts.seed << 13;
        self.parts.seed ^= self.parts.seed >> 7;
        self.parts.seed ^= self.parts.seed << 17;
        let unit = (self.parts.seed >> 11) as f64 / (1u64 << 53) as f64;
        d.mul_f64(1.0 + self.parts.jitter * (2.0 * unit - 1.0))
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
    wait_backoff_observed(delay, forward, &Observe::default())
}

/// [`wait_backoff`], telling `observe` of each signal (none is forwarded: no command runs)
/// and polling its descriptor too (the output relay drains what orphans still write).
#[inline(never)]
pub(crate) fn wait_backoff_observed(
    delay: Duration,
    forward: &[Signal],
    observe: &Observe,
) -> io::Result<Wake> {
    let mut set = SigSet::empty();
    for s in forward.iter().chain(&STOP_SIGNALS).chain([&Signal::HUP]) {
        set.add(s.as_raw())?;
    }
    set.block()?;
    let fd = set.signalfd()?;
    let deadline = Instant::now().checked_add(delay);
    loop {
        while let Some(info) = read_siginfo(&fd)? {
            observe.signal(&info, false);
            match Signal::from_raw(info.ssi_signo as i32) {
                Some(s) if STOP_SIGNALS.contains(&s) => return Ok(Wake::Stop(s)),
                Some(Signal::HUP) => return Ok(Wake::Now),
                _ => {}
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Wake::Elapsed);
        }
        let Some(extra) = observe.fd() else {
            crate::sys::poll_fd_until(fd.as_fd(), PollFlags::IN, deadline)?;
            continue;
        };
        let mut fds = [
            PollFd::new(&fd, PollFlags::IN),
            PollFd::from_borrowed_fd(extra, PollFlags::IN),
        ];
        if crate::notify::poll_until(&mut fds, deadline)? > 0 && !fds[1].revents().is_empty() {
            observe.readable();
        }
    }
}
