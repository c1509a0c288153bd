//! Signal dispositions: query, reset to default, list the ignored ones, reset them all.
//!
//! Two paths, on purpose. [`get`] goes through the C library's `sigaction(3)` because callers
//! want its `struct sigaction` (to save and restore a handler). [`set_default`], [`ignored`]
//! and [`reset_all_raw`] use the raw `rt_sigaction(2)` system call, because glibc refuses the
//! real-time signals it keeps for itself (32 and 33) with `EINVAL`, yet a parent may have
//! ignored them, and an ignored disposition survives `exec`: a child that is to start with
//! every disposition at default must have those two reset too.
//!
//! The raw calls only need two facts about the kernel's `struct sigaction`: an all-zero one is
//! `SIG_DFL` with no flags and an empty mask on every layout, and the handler is its first word
//! (after the flags word on MIPS).

use std::io;
use std::mem::MaybeUninit;
use std::ptr;

use super::errno;

/// The kernel's signal-set size in bytes (`_NSIG / 8`), the last argument of rt_sigaction.
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
const SIGSET_SIZE: usize = 16;
#[cfg(not(any(target_arch = "mips", target_arch = "mips64")))]
const SIGSET_SIZE: usize = 8;

/// One more than the highest signal number (`_NSIG`).
const NSIG: i32 = SIGSET_SIZE as i32 * 8 + 1;

/// The word of the kernel's `struct sigaction` that holds the handler.
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
const HANDLER_WORD: usize = 1;
#[cfg(not(any(target_arch = "mips", target_arch = "mips64")))]
const HANDLER_WORD: usize = 0;

/// Room for the kernel's `struct sigaction` on every layout (handler, flags, restorer, mask).
type KernelAction = [usize; 8];

/// [`sigaction(2)`] with a null new action: the current disposition of `signo`.
///
/// Fails with `EINVAL` for numbers out of range and for the signals the C library keeps for
/// itself (glibc: 32 and 33; see [`ignored`] for those).
///
/// [`sigaction(2)`]: https://man7.org/linux/man-pages/man2/sigaction.2.html
pub fn get(signo: i32) -> io::Result<libc::sigaction> {
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only queries; `old` is valid for writes.
    if unsafe { libc::sigaction(signo, ptr::null(), old.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sigaction filled `old` on success (and it was zeroed before).
    Ok(unsafe { old.assume_init() })
}

/// [`rt_sigaction(2)`] to `SIG_DFL`, with no flags and an empty mask.
///
/// Works for the signals the C library keeps for itself too. `EINVAL` for `SIGKILL`,
/// `SIGSTOP` and numbers out of range.
///
/// [`rt_sigaction(2)`]: https://man7.org/linux/man-pages/man2/rt_sigaction.2.html
pub fn set_default(signo: i32) -> io::Result<()> {
    match raw_default(signo) {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// [`rt_sigaction(2)`] queries: every signal whose disposition is `SIG_IGN` now, in order.
///
/// Covers every signal but `SIGKILL` and `SIGSTOP` (which cannot be ignored), the real-time
/// ones the C library hides included. `SIGPIPE` is listed like any other: whether it matters
/// (std resets it in children it spawns) is the caller's decision.
///
/// [`rt_sigaction(2)`]: https://man7.org/linux/man-pages/man2/rt_sigaction.2.html
pub fn ignored() -> Vec<i32> {
    (1..NSIG)
        .filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP)
        .filter(|&s| raw_handler(s) == Some(libc::SIG_IGN))
        .collect()
}

/// [`rt_sigaction(2)`] to `SIG_DFL` for every signal but `SIGKILL` and `SIGSTOP`.
///
/// Async-signal-safe (no allocation, no lock, raw system calls only): made for the child side
/// of `fork`/`clone`, where handlers installed by the parent would otherwise run with the
/// parent's memory. Block signals around the fork so none arrives before the reset. On failure
/// returns `(signal, errno)` of the first signal that could not be reset.
///
/// [`rt_sigaction(2)`]: https://man7.org/linux/man-pages/man2/rt_sigaction.2.html
pub fn reset_all_raw() -> Result<(), (i32, i32)> {
    let mut signo = 1;
    while signo < NSIG {
        if signo != libc::SIGKILL && signo != libc::SIGSTOP {
            let e = raw_default(signo);
            if e != 0 {
                return Err((signo, e));
            }
        }
        signo += 1;
    }
    Ok(())
}

/// rt_sigaction(signo, all-zero, NULL): 0 or the errno. Async-signal-safe.
fn raw_default(signo: i32) -> i32 {
    let dfl: KernelAction = [0; 8];
    // SAFETY: the kernel only reads `dfl`, which is large enough for its struct sigaction and
    // all zero (SIG_DFL, no flags, empty mask); the old action pointer is null.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            signo,
            dfl.as_ptr(),
            ptr::null_mut::<KernelAction>(),
            SIGSET_SIZE,
        )
    };
    if r == 0 { 0 } else { errno() }
}

/// rt_sigaction(signo, NULL, &old): the handler word, or `None` if the query failed.
fn raw_handler(signo: i32) -> Option<libc::sighandler_t> {
    let mut old: KernelAction = [0; 8];
    // SAFETY: a null new action only queries; `old` is large enough for the kernel's struct.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            signo,
            ptr::null::<KernelAction>(),
            old.as_mut_ptr(),
            SIGSET_SIZE,
        )
    };
    (r == 0).then_some(old[HANDLER_WORD] as libc::sighandler_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_reads_the_default_of_an_untouched_signal() {
        assert_eq!(get(libc::SIGURG).unwrap().sa_sigaction, libc::SIG_DFL);
    }

    #[test]
    fn ignored_sees_what_sigaction_set_and_set_default_undoes() {
        // SIGWINCH is not used by the test harness; the change is undone before returning.
        let mut ign: libc::sigaction = get(libc::SIGWINCH).unwrap();
        ign.sa_sigaction = libc::SIG_IGN;
        // SAFETY: installing SIG_IGN for SIGWINCH with a valid struct.
        let r = unsafe { libc::sigaction(libc::SIGWINCH, &ign, ptr::null_mut()) };
        assert_eq!(r, 0);
        assert!(ignored().contains(&libc::SIGWINCH));
        set_default(libc::SIGWINCH).unwrap();
        assert!(!ignored().contains(&libc::SIGWINCH));
        assert_eq!(get(libc::SIGWINCH).unwrap().sa_sigaction, libc::SIG_DFL);
    }

    #[test]
    fn uncatchable_and_out_of_range_are_refused() {
        let einval = Some(libc::EINVAL);
        assert_eq!(
            set_default(libc::SIGKILL).unwrap_err().raw_os_error(),
            einval
        );
        assert_eq!(set_default(NSIG).unwrap_err().raw_os_error(), einval);
        assert!(!ignored().contains(&libc::SIGKILL));
    }
}
