//! The lease keeper: one thread that renews the lease and says "lost" before it can expire.
//!
//! A lease is only as good as its last renewal. The keeper renews every TTL/3 and tracks the
//! deadline `D` = the *send* time of the last renewal that etcd answered with a TTL, plus that
//! TTL, on the monotonic clock. The server counts from when it received the renewal, which is
//! later, so no other holder can be granted the lock before `D`. The keeper declares the lock
//! lost at the *fence* time `D - grace - margin`, so that the holder has `grace` to stop its
//! work and still be done before `D` (Kubernetes' leader election: renewDeadline <
//! leaseDuration). It also declares it lost at once when a renewal answers TTL 0 (expired or
//! revoked), or when the lock key is gone (deleted by someone else). A failed renewal is
//! retried soon, on the next endpoint.
//!
//! "Lost" is a byte written to a pipe, so that a poll loop can wait for it alongside a child
//! and a signalfd; the reason is kept for [`Lock::loss`](super::Lock::loss). The thread is
//! started with every signal blocked (they belong to the main thread's signalfd) and stopped
//! through a second pipe, which also cancels a call in flight.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use rustix::event::PollFlags;
use rustix::pipe::{PipeFlags, pipe_with};

use super::error::Error;
use super::gateway::Client;

/// Why a lock was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LossReason {
    /// etcd answered a renewal with TTL 0: the lease expired or was revoked.
    Expired,
    /// The lock key was deleted.
    KeyDeleted,
    /// Renewals kept failing until the fence time (the lease expires within the grace).
    Unrenewed,
}

/// The loss of a lease: why, when, and the last renewal error.
#[derive(Debug, Clone)]
pub struct Loss {
    /// Why.
    pub reason: LossReason,
    /// When the keeper declared it.
    pub at: SystemTime,
    /// When the last renewal that etcd answered was sent.
    pub last_renewal: SystemTime,
    /// The error of the last failed renewal, if renewals were failing.
    pub error: Option<Arc<Error>>,
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ago = self
            .at
            .duration_since(self.last_renewal)
            .unwrap_or_default();
        match self.reason {
            LossReason::Expired => f.write_str("etcd says the lease has expired"),
            LossReason::KeyDeleted => f.write_str("the lock key was deleted"),
            LossReason::Unrenewed => write!(
                f,
                "the lease could not be renewed for {:.1}s",
                ago.as_secs_f64()
            ),
        }
    }
}

/// Timing of the keeper.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) ttl: Duration,
    /// Time the holder needs to stop (TERM, then KILL).
    pub(crate) grace: Duration,
}

impl Timing {
    fn period(&self) -> Duration {
        self.ttl / 3
    }

    /// Allowance for scheduling and clock-rate differences between us and the server.
    fn margin(&self) -> Duration {
        (self.ttl / 10).clamp(Duration::from_millis(250), Duration::from_secs(2))
    }

    /// The fence time for a renewal sent at `sent` and answered with `ttl`.
    fn fence(&self, sent: Instant, ttl: Duration) -> Instant {
        let before = self.grace + self.margin();
        (sent + ttl).checked_sub(before).unwrap_or(sent)
    }
}

/// What the keeper and the lock share.
#[derive(Debug, Default)]
struct State {
    /// The lock key, once acquired: checked after each renewal.
    key: Option<String>,
    loss: Option<Loss>,
    /// `D`: the lease cannot expire before this.
    expires: Option<Instant>,
}

/// The running keeper thread and its pipes.
#[derive(Debug)]
pub(crate) struct Keeper {
    state: Arc<Mutex<State>>,
    lost: OwnedFd,
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

/// `pipe2(2)` with `O_CLOEXEC|O_NONBLOCK`.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?)
}

impl Keeper {
    /// Start renewing `lease`, granted (with `timing.ttl`) by a call sent at `granted`.
    pub(crate) fn start(
        client: Client,
        lease: i64,
        timing: Timing,
        granted: Instant,
    ) -> Result<Keeper, Error> {
        let (lost_r, lost_w) = pipe().map_err(Error::Keeper)?;
        let (stop_r, stop_w) = pipe().map_err(Error::Keeper)?;
        let state = Arc::new(Mutex::new(State {
            expires: Some(granted + timing.ttl),
            ..State::default()
        }));
        let mut run = Run {
            client,
            lease,
            timing,
            state: state.clone(),
            lost: lost_w,
            stop: stop_r,
            sent_ok: granted,
            sent_ok_wall: SystemTime::now(),
            fence: timing.fence(granted, timing.ttl),
            error: None,
        };
        // The new thread inherits the signal mask: block everything around the spawn so that
        // no signal meant for the main thread is ever delivered to the keeper.
        let all = nix::sys::signal::SigSet::all();
        let old = all.thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK);
        let spawned = std::thread::Builder::new()
            .name("lease-keeper".into())
            .spawn(move || run.run());
        if let Ok(old) = old {
            let _ = old.thread_set_mask();
        }
        Ok(Keeper {
            state,
            lost: lost_r,
            stop: Some(stop_w),
            thread: Some(spawned.map_err(Error::Keeper)?),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From now on, check after each renewal that `key` still exists.
    pub(crate) fn watch_key(&self, key: &str) {
        self.state().key = Some(key.to_owned());
    }

    /// Readable once the lease is lost.
    pub(crate) fn lost_fd(&self) -> BorrowedFd<'_> {
        self.lost.as_fd()
    }

    pub(crate) fn loss(&self) -> Option<Loss> {
        self.state().loss.clone()
    }

    /// The earliest time the server can expire the lease.
    pub(crate) fn expires(&self) -> Option<Instant> {
        self.state().expires
    }

    /// Stop renewing (cancelling a call in flight) and wait for the thread.
    pub(crate) fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The keeper thread's own state.
struct Run {
    client: Client,
    lease: i64,
    timing: Timing,
    state: Arc<Mutex<State>>,
    lost: OwnedFd,
    /// Hung up (EOF) when the lock wants the keeper to stop.
    stop: OwnedFd,
    sent_ok: Instant,
    sent_ok_wall: SystemTime,
    fence: Instant,
    error: Option<Arc<Error>>,
}

impl Run {
    fn run(&mut self) {
        let mut next = self.sent_ok + self.timing.period();
        loop {
            let wake = next.min(self.fence);
            match readable(self.stop.as_fd(), wake) {
                Ok(true) | Err(_) => return,
                Ok(false) => {}
            }
            let now = Instant::now();
            if now >= self.fence {
                return self.declare(LossReason::Unrenewed);
            }
            if now < next {
                continue;
            }
            let deadline = self.fence.min(now + self.timing.period());
            let stop = Some(self.stop.as_fd());
            match self.client.keep_alive(self.lease, deadline, stop) {
                Ok(ttl) if ttl <= 0 => return self.declare(LossReason::Expired),
                Ok(ttl) => {
                    let ttl = Duration::from_secs(ttl as u64);
                    self.sent_ok = now;
                    self.sent_ok_wall = SystemTime::now();
                    self.fence = self.timing.fence(now, ttl);
                    self.error = None;
                    self.lock().expires = Some(now + ttl);
                    next = now + self.timing.period();
                    if self.key_gone(deadline) {
                        return self.declare(LossReason::KeyDeleted);
                    }
                }
                Err(e) => {
                    self.error = Some(Arc::new(e));
                    let retry = (self.timing.period() / 4)
                        .clamp(Duration::from_millis(100), Duration::from_secs(1));
                    next = Instant::now() + retry;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the lock key is known to be gone (a failed check proves nothing).
    fn key_gone(&mut self, deadline: Instant) -> bool {
        let Some(key) = self.lock().key.clone() else {
            return false;
        };
        let stop = Some(self.stop.as_fd());
        matches!(
            self.client.range(&key, None, 0, false, 1, deadline, stop),
            Ok((kvs, _)) if kvs.is_empty()
        )
    }

    fn declare(&mut self, reason: LossReason) {
        self.lock().loss = Some(Loss {
            reason,
            at: SystemTime::now(),
            last_renewal: self.sent_ok_wall,
            error: self.error.clone(),
        });
        let _ = rustix::io::write(&self.lost, b"!");
    }
}

/// Whether `fd` becomes readable (or hangs up) before `deadline`.
fn readable(fd: BorrowedFd<'_>, deadline: Instant) -> std::io::Result<bool> {
    Ok(!crate::sys::poll_fd_until(fd, PollFlags::IN, Some(deadline))?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_leaves_the_grace_before_the_deadline() {
        let t = Timing {
            ttl: Duration::from_secs(10),
            grace: Duration::from_secs(3),
        };
        let now = Instant::now();
        assert_eq!(t.fence(now, t.ttl), now + Duration::from_secs(6));
        assert!(t.fence(now, Duration::from_secs(1)) <= now);
        let (r, w) = pipe().unwrap();
        let soon = || Instant::now() + Duration::from_millis(1);
        assert!(!readable(r.as_fd(), soon()).unwrap());
        drop(w);
        assert!(readable(r.as_fd(), soon()).unwrap());
    }
}
