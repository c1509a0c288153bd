//! Remove PID files when the process is killed politely (SIGTERM, SIGINT, SIGHUP).
//!
//! A default-disposition SIGTERM kills the process without running destructors, so the PID
//! file stays behind (harmless for pidward's readers, since the lock is gone, but untidy and
//! confusing for other tools). [`install`] records the file in a fixed table of atomics and
//! installs a handler that unlinks every recorded file that is still the inode we locked,
//! restores the default disposition and re-raises the signal, so the process still dies *of*
//! that signal and its parent sees the truth.
//!
//! Only signals whose disposition is still `SIG_DFL` get the handler: a program that handles
//! or ignores one of them keeps its choice. Everything the handler touches was prepared
//! beforehand (a leaked C string per path), and it calls only async-signal-safe functions:
//! `lstat`, `unlink`, `sigaction`, `raise`.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::{Signal, sys};

const SLOTS: usize = 8;

struct Slot {
    path: AtomicPtr<libc::c_char>,
    dev: AtomicU64,
    ino: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    path: AtomicPtr::new(std::ptr::null_mut()),
    dev: AtomicU64::new(0),
    ino: AtomicU64::new(0),
};

static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];

const SIGNALS: [Signal; 3] = [Signal::TERM, Signal::INT, Signal::HUP];

/// Record `path` (inode `dev`/`ino`) and install the handler where the disposition is default.
pub(super) fn install(path: &Path, dev: u64, ino: u64) -> io::Result<Vec<Signal>> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let slot = TABLE
        .iter()
        .find(|s| s.dev.load(Ordering::Acquire) == dev && s.ino.load(Ordering::Acquire) == ino)
        .or_else(|| {
            TABLE
                .iter()
                .find(|s| s.path.load(Ordering::Acquire).is_null())
        })
        .ok_or_else(|| io::Error::other("too many PID files registered for signal cleanup"))?;
    slot.dev.store(dev, Ordering::Release);
    slot.ino.store(ino, Ordering::Release);
    // Leaked on purpose: a handler may be reading it at any time.
    let old = slot.path.swap(c.into_raw(), Ordering::AcqRel);
    let _ = old; // the previous string (same file) is leaked too: at most SLOTS strings
    let mut installed = Vec::new();
    for sig in SIGNALS {
        let current = sys::sigaction::get(sig.as_raw())?;
        if current.sa_sigaction == handler as *const () as libc::sighandler_t {
            installed.push(sig);
            continue;
        }
        if current.sa_sigaction != libc::SIG_DFL {
            continue;
        }
        // The current action is a valid `struct sigaction` to start from (default, no flags).
        let mut action = current;
        action.sa_sigaction = handler as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: sigemptyset/sigaddset write into a live sigset_t, with valid signal numbers.
        unsafe {
            libc::sigemptyset(&mut action.sa_mask);
            for other in SIGNALS {
                libc::sigaddset(&mut action.sa_mask, other.as_raw());
            }
        }
        // SAFETY: installing a handler that is async-signal-safe (see `handler`).
        if unsafe { libc::sigaction(sig.as_raw(), &action, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        installed.push(sig);
    }
    Ok(installed)
}

/// Stop cleaning up inode `dev`/`ino` (its guard removed it or handed it off).
pub(super) fn forget(dev: u64, ino: u64) {
    for slot in &TABLE {
        if slot.dev.load(Ordering::Acquire) == dev && slot.ino.load(Ordering::Acquire) == ino {
            slot.path.store(std::ptr::null_mut(), Ordering::Release);
            slot.dev.store(0, Ordering::Release);
            slot.ino.store(0, Ordering::Release);
        }
    }
}

extern "C" fn handler(sig: libc::c_int) {
    // Async-signal-safe only: atomics, lstat(2), unlink(2), sigaction(2), raise(3).
    for slot in &TABLE {
        let path = slot.path.load(Ordering::Acquire);
        if path.is_null() {
            continue;
        }
        // SAFETY: `path` is a leaked, never-freed C string; `st` is a local out-parameter.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::lstat(path, &mut st) == 0
                && st.st_dev == slot.dev.load(Ordering::Acquire)
                && st.st_ino == slot.ino.load(Ordering::Acquire)
            {
                libc::unlink(path);
            }
        }
    }
    // Restore the default action and re-raise: the signal is blocked while we run, so it is
    // delivered (and kills the process) as soon as the handler returns. Nothing to do if the
    // reset fails: the signal was caught, and this is the best the handler can do.
    let _ = sys::sigaction::set_default(sig);
    // SAFETY: raise(3) is async-signal-safe.
    unsafe { libc::raise(sig) };
}
