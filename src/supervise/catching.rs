//! The caller's signal state while a supervisor runs: how the spawn is bridged until the
//! signalfd reads the forwarded signals, and what is put back afterwards.
//!
//! Between the spawn and the moment the signalfd exists, a forwarded signal must be neither
//! lost nor fatal. Two ways, chosen by [`Catching::start`]:
//!
//! * **Blocked** (`pthread_sigmask(2)`), when the caller is single-threaded
//!   (`/proc/self/status` says `Threads: 1`): no other thread can take a signal sent to the
//!   process, so blocking the set in this one keeps every signal pending. Just before the fork
//!   [`Catching::forking`] notes which are pending (`sigpending(2)`): the child did not exist
//!   when they came, so they are forwarded whoever sent them, and [`Catching::recorded`] takes
//!   them out of the queue (`sigtimedwait(2)`, zero timeout) so that the signalfd does not
//!   report them again. Those arriving later stay pending for the signalfd. One system call
//!   for the set instead of two `sigaction(2)` per signal, and the caller's handlers are never
//!   replaced.
//! * **Caught**, otherwise: [`record`] is installed for the set (`sigaction(2)`), and
//!   [`Catching::recorded`] returns the bits recorded until the set was blocked. Another thread
//!   that does not block the set may be the one a signal is delivered to; a handler runs there
//!   as well, where a blocked set would leave the default action (for most signals, the end
//!   of the process).
//!
//! The caller's handlers come back only when the supervision is over ([`Restore`], which also
//! remembers the mask, the `SIGCHLD` disposition and the subreaper flag that the supervisor
//! changed): setting a disposition whose action is to ignore (`SIG_DFL` for `CHLD`, `WINCH`,
//! `URG`, `CONT`, or `SIG_IGN`) discards a pending signal even while it is blocked, so putting
//! them back right after the block would lose such a signal arriving in between (or pending
//! from before, when the caller had it blocked already, as a restarting supervisor does).
//! While the set is blocked the handler never runs; the signalfd reads the signals instead.

use std::cell::Cell;
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

/// The set blocked, or the recording handler installed (`sigaction(2)`) for it, and the
/// caller's actions to put back. Signals the caller ignores stay ignored, so that the child
/// inherits that.
pub(crate) struct Catching {
    saved: Vec<(i32, libc::sigaction)>,
    /// Blocked instead of caught: the set, and the caller's mask before it was blocked.
    blocked: Option<(SigSet, SigSet)>,
    /// Blocked: the signals of the set pending when the fork began (bit N-1 for signal N).
    pending: Cell<u64>,
}

impl Catching {
    /// Blocks `set` when the caller is `single_threaded`; otherwise installs [`record`] for
    /// every signal of `set` that the caller does not ignore.
    pub(crate) fn start(set: &SigSet, single_threaded: bool) -> io::Result<Catching> {
        RECORDED.store(0, Ordering::SeqCst);
        KERNEL.store(0, Ordering::SeqCst);
        FORKING.store(false, Ordering::SeqCst);
        let mut catching = Catching {
            saved: Vec::new(),
            blocked: None,
            pending: Cell::new(0),
        };
        if single_threaded {
            catching.blocked = Some((*set, set.block()?));
            return Ok(catching);
        }
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
    /// reached the child as well; one pending now cannot have.
    pub(crate) fn forking(&self) {
        match &self.blocked {
            Some((set, _)) => self.pending.set(set.pending_of()),
            None => FORKING.store(true, Ordering::SeqCst),
        }
    }

    /// The caller's mask from before the set was blocked, when [`start`](Catching::start)
    /// blocked it (the caller then need not block it again).
    pub(crate) fn mask_before(&self) -> Option<SigSet> {
        self.blocked.map(|(_, old)| old)
    }

    /// What was recorded so far (call it once the set is blocked: nothing is recorded after):
    /// the signals to forward, and those the kernel sent to our process group after the fork
    /// began (forwarded only when the child is not in our group). Blocked, the first are those
    /// pending at the fork, taken out of the queue here; every later one is the signalfd's.
    /// Dropping the `Catching` puts the caller's actions back.
    pub(crate) fn recorded(&self) -> (u64, u64) {
        if self.blocked.is_some() {
            let pending = self.pending.take();
            SigSet::from_bits(pending).take_pending();
            return (pending, 0);
        }
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
