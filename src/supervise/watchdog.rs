//! The watchdog of a running service (systemd's `WatchdogSec=`): once the start is over, the
//! command must send `WATCHDOG=1` over its sd_notify socket at least once per timeout.
//!
//! The command learns the timeout from `WATCHDOG_USEC` (and `NOTIFY_SOCKET`, given even when
//! the readiness is not `notify`). Each `WATCHDOG=1` moves the deadline one timeout on;
//! `WATCHDOG_USEC=N` sets a new timeout from now (0 turns the watchdog off); `WATCHDOG=trigger`
//! is a deadline missed at once (the service found itself broken). A missed deadline sends
//! the watchdog signal (default `ABRT`, for a core dump) to the main process; if it is still
//! there after the stop schedule's first wait, the stop schedule ends the tree. The run's
//! cause is then [`Cause::Watchdog`](super::Cause::Watchdog). Deadlines are on the monotonic
//! clock ([`Instant`]).

use std::time::{Duration, Instant};

use super::{Running, tree};
use crate::Signal;
use crate::notify::Notification;
use crate::stop::Step;

/// The grace after the watchdog signal when the stop schedule has no wait.
const GRACE: Duration = Duration::from_secs(5);

/// A watchdog's timer (module docs).
#[derive(Debug, Clone)]
pub(super) struct Watchdog {
    /// `None`: turned off by `WATCHDOG_USEC=0`.
    timeout: Option<Duration>,
    signal: Signal,
    deadline: Option<Instant>,
    /// The deadline was missed: when the stop schedule takes over (`None` once it has).
    fired: Option<Option<Instant>>,
}

impl Watchdog {
    pub(super) fn new(timeout: Duration, signal: Signal) -> Watchdog {
        Watchdog {
            timeout: (!timeout.is_zero()).then_some(timeout),
            signal,
            deadline: None,
            fired: None,
        }
    }

    /// Starts the timer (the start is over).
    pub(super) fn arm(&mut self) {
        if self.fired.is_none() {
            self.deadline = self.timeout.and_then(|t| Instant::now().checked_add(t));
        }
    }

    /// Acts on a message of the command: `WATCHDOG=1`, `WATCHDOG=trigger`, `WATCHDOG_USEC=`.
    pub(super) fn note(&mut self, n: &Notification) {
        if let Some(usec) = n.get("WATCHDOG_USEC").and_then(|v| v.parse::<u64>().ok()) {
            self.timeout = (usec > 0).then(|| Duration::from_micros(usec));
            self.arm();
        }
        match n.get("WATCHDOG") {
            Some("1") => self.arm(),
            Some("trigger") if self.fired.is_none() => self.deadline = Some(Instant::now()),
            _ => {}
        }
    }

    /// When the loop must wake up for it next.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        match self.fired {
            None => self.deadline,
            Some(kill_at) => kill_at,
        }
    }

    /// Whether the deadline was missed.
    pub(super) fn fired(&self) -> bool {
        self.fired.is_some()
    }
}

impl Running {
    /// Whether this run missed its watchdog deadline (and was ended for it).
    pub fn watchdog_fired(&self) -> bool {
        self.watchdog.as_ref().is_some_and(Watchdog::fired)
    }

    /// Starts the watchdog, if any (the start is over).
    pub(super) fn arm_watchdog(&mut self) {
        if let Some(w) = &mut self.watchdog {
            w.arm();
        }
    }

    /// A missed deadline: the watchdog signal, then, after the stop schedule's first wait,
    /// the stop schedule.
    pub(super) fn check_watchdog(&mut self) {
        if self.watchdog.is_some() {
            self.check_watchdog_now();
        }
    }

    /// `check_watchdog` with a watchdog (out of line: most
    /// services have none, and every start runs the code around it).
    #[inline(never)]
    fn check_watchdog_now(&mut self) {
        let Some(w) = &mut self.watchdog else { return };
        let now = Instant::now();
        match w.fired {
            None if w.deadline.is_some_and(|d| now >= d) => {
                let grace = self
                    .stop
                    .steps()
                    .iter()
                    .find_map(|s| match s {
                        Step::Wait(d) => Some(*d),
                        _ => None,
                    })
                    .unwrap_or(GRACE);
                w.fired = Some(now.checked_add(grace));
                let signal = w.signal;
                let _ = self.child.send(signal);
                if signal.is_catchable() && signal != Signal::CONT {
                    let _ = self.child.send(Signal::CONT);
                }
            }
            Some(Some(kill_at)) if now >= kill_at => {
                w.fired = Some(None);
                let _ = tree::stop(&mut self.child, &self.stop, &mut || {});
            }
            _ => {}
        }
    }
}
