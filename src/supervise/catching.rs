//! The caller's signal state while a supervisor runs: the transient recording handler that
//! bridges the spawn, and what is put back afterwards.
//!
//! Between the spawn and the moment the signals are blocked, a forwarded signal must be
//! neither lost nor fatal. [`Catching`] installs [`record`] for the set (`sigaction(2)`), and
//! [`Catching::recorded`] returns the bits recorded until the set was blocked. The caller's
//! handlers come back only when the supervision is over ([`Restore`], which also remembers
//! the mask, the `SIGCHLD` disposition and the subreaper flag that the supervisor changed):
//! setting a disposition whose action is to ignore (`SIG_DFL` for `CHLD`, `WINCH`, `URG`,
//! `CONT`, or `SIG_IGN`) discards a pending signal even while it is blocked, so putting them
//! back right after the block would lose such a signal arriving in between (or pending from
//! before, when the caller had it blocked already, as a restarting supervisor does). While
//! the set is blocked the handler never runs; the signalfd reads the signals instead.

use std::io;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::sigset::{SigSet, cvt};

/// Signals caught by [`record`] while spawning, one bit per signal number (bit N-1).
static RECORDED: AtomicU64 = AtomicU64::new(0);

/// Signals caught once the fork may have happened that the kernel sent (`SI_KERNEL`: the
/// terminal's keys, signalling our whole process group, which the child may share).
static KERNEL: AtomicU64 = AtomicU64::new(0);

/// Set just before the fork: from then on the child may have had a group-wide signal too.
static FORKING: AtomicBool = AtomicBool::new(false);

/// The transient handler (`SA_SIGINFO`): note the signal, and whether the kernel sent it
/// after the fork began, nothing else (atomic operations are async-signal-safe).
extern "C" fn record(signo: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    if !(1..=64).contains(&signo) {
        return;
    }
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t.
    let kernel = !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL;
    if kernel && FORKING.load(Ordering::SeqCst) {
        KERNEL.fetch_or(1 << (signo - 1), Ordering::SeqCst);
    } else {
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
        KERNEL.store(0, Ordering::SeqCst);
        FORKING.store(false, Ordering::SeqCst);
        let mut catching = Catching { saved: Vec::new() };
        // SAFETY: a zeroed sigaction is valid; the handler and flags are set below.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = record
            as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
            as libc::sighandler_t;
        act.sa_flags = libc::SA_RESTART | libc::SA_SIGINFO;
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

    /// Marks the moment just before the fork: a terminal's signal caught from now on may have
    /// reached the child as well.
    pub(crate) fn forking(&self) {
        FORKING.store(true, Ordering::SeqCst);
    }

    /// What was recorded so far (call it once the set is blocked: nothing is recorded after):
    /// the signals to forward, and those the kernel sent to our process group after the fork
    /// began (forwarded only when the child is not in our group).
    /// Dropping the `Catching` puts the caller's actions back.
    pub(crate) fn recorded(&self) -> (u64, u64) {
        FORKING.store(false, Ordering::SeqCst);
        (
            RECORDED.swap(0, Ordering::SeqCst),
            KERNEL.swap(0, Ordering::SeqCst),
        )
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
#[derive(Default)]
pub(crate) struct Restore {
    /// The caller's handlers, put back first (while the set is still blocked).
    pub(crate) handlers: Option<Catching>,
    /// The mask before the forwarded signals were blocked; `None` keeps them blocked.
    pub(crate) mask: Option<SigSet>,
    pub(crate) sigchld: Option<libc::sigaction>,
    pub(crate) subreaper: bool,
}

impl Drop for Restore {
    fn drop(&mut self) {
        drop(self.handlers.take());
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

impl std::fmt::Debug for Restore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restore")
            .field("mask", &self.mask)
            .field("subreaper", &self.subreaper)
            .finish_non_exhaustive()
    }
}
