//! The caller's signal state while a supervisor runs: the transient recording handler that
//! bridges the spawn, and what is put back afterwards.
//!
//! Between the spawn and the moment the signals are blocked, a forwarded signal must be
//! neither lost nor fatal. [`Catching`] installs [`record`] for the set (`sigaction(2)`), and
//! [`Catching::finish`] puts the caller's handlers back and returns the bits recorded
//! meanwhile. [`Restore`] remembers the mask, the `SIGCHLD` disposition and the subreaper
//! flag that the supervisor changed, and puts them back when dropped.

use std::io;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};

use super::sigset::{SigSet, cvt};

/// Signals caught by [`record`] while spawning, one bit per signal number (bit N-1).
static RECORDED: AtomicU64 = AtomicU64::new(0);

/// The transient handler: note the signal, nothing else (an atomic `or` is
/// async-signal-safe).
extern "C" fn record(signo: libc::c_int) {
    if (1..=64).contains(&signo) {
        RECORDED.fetch_or(1 << (signo - 1), Ordering::SeqCst);
    }
}

/// The recording handler installed (`sigaction(2)`) for a set of signals, and the caller's
/// actions to put back. Signals the caller ignores stay ignored, so that the child inherits
/// that.
pub(crate) struct Catching {
    saved: Vec<(i32, libc::sigaction)>,
}

impl Catching {
    /// Installs [`record`] for every signal of `set` that the caller does not ignore.
    pub(crate) fn start(set: &SigSet) -> io::Result<Catching> {
        RECORDED.store(0, Ordering::SeqCst);
        let mut catching = Catching { saved: Vec::new() };
        // SAFETY: a zeroed sigaction is valid; the handler and flags are set below.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = record as extern "C" fn(libc::c_int) as libc::sighandler_t;
        act.sa_flags = libc::SA_RESTART;
        for signo in set.members() {
            let mut old = MaybeUninit::<libc::sigaction>::zeroed();
            // SAFETY: a valid, catchable signal number and a fully initialised action.
            cvt(unsafe { libc::sigaction(signo, &act, old.as_mut_ptr()) })?;
            // SAFETY: filled by sigaction on success.
            let old = unsafe { old.assume_init() };
            if old.sa_sigaction == libc::SIG_IGN {
                // Rare: put it back at once (one call fewer in the common case).
                // SAFETY: `old` came from sigaction(2) itself.
                cvt(unsafe { libc::sigaction(signo, &old, std::ptr::null_mut()) })?;
            } else {
                catching.saved.push((signo, old));
            }
        }
        Ok(catching)
    }

    /// Put the caller's actions back and return what was recorded.
    pub(crate) fn finish(self) -> u64 {
        drop(self);
        RECORDED.swap(0, Ordering::SeqCst)
    }
}

impl Drop for Catching {
    fn drop(&mut self) {
        for (signo, old) in &self.saved {
            // SAFETY: `old` came from sigaction(2) itself.
            unsafe { libc::sigaction(*signo, old, std::ptr::null_mut()) };
        }
    }
}

/// What a supervisor changed in the calling process, undone on drop.
#[derive(Debug, Default)]
pub(crate) struct Restore {
    /// The mask before the forwarded signals were blocked; `None` keeps them blocked.
    pub(crate) mask: Option<SigSet>,
    pub(crate) sigchld: Option<libc::sigaction>,
    pub(crate) subreaper: bool,
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(old) = &self.mask {
            old.set_mask();
        }
        if let Some(old) = &self.sigchld {
            // SAFETY: `old` came from sigaction(2) itself.
            unsafe { libc::sigaction(libc::SIGCHLD, old, std::ptr::null_mut()) };
        }
        if self.subreaper {
            let _ = crate::sys::subreaper::set(false);
        }
    }
}

/// Signals whose disposition is `SIG_IGN` now, except `SIGPIPE` (std resets it in children
/// itself).
pub(crate) fn ignored_signals() -> Vec<i32> {
    let mut ignored = crate::sys::sigaction::ignored();
    ignored.retain(|&s| s != libc::SIGPIPE);
    ignored
}
