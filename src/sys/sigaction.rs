//! Signal dispositions: query, reset to default, list the ignored ones, reset them all.
//!
//! Two paths, on purpose. [`get`] goes through the C library's `sigaction(3)` because callers
//! want its `struct sigaction` (to save and restore a handler). [`set_default`], [`ignored`]
//! and [`reset_raw`] use the raw `rt_sigaction(2)` system call, because glibc refuses the
//! real-time signals it keeps for itself (32 and 33) with `EINVAL`, yet a parent may have
//! ignored them, and an ignored disposition survives `exec`: a child that is to start with
//! every disposition at default must have those two reset too.
//!
//! [`ignored`] reads which signals are ignored from one place, the `SigIgn` line of
//! `/proc/self/status` (`proc_pid_status(5)`): one `open`, `read` and `close` instead of one
//! `rt_sigaction` query per signal (falling back to the queries without `/proc`).
//! [`dispositions`] reads the same file for the caught signals (`SigCgt`) and the number of
//! threads as well: a single-threaded caller whose dispositions are known can block signals
//! instead of catching them, and have a child reset only the signals that are not at default.
//! [`reset_raw`], which runs in a child between `clone` and `exec`, does not read it: a child
//! that opens its own `/proc/PID` entries keeps its PID number from being reused for a while
//! after it is gone, which a process tool must not do; it resets every signal instead.
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

/// What `/proc/self/status` says about this process's signals (`proc_pid_status(5)`): its
/// number of threads (`Threads`), and which signals are ignored (`SigIgn`) and which have a
/// handler (`SigCgt`), bit N-1 for signal N. Every other signal is at `SIG_DFL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dispositions {
    pub threads: u32,
    pub ignored: u128,
    pub caught: u128,
}

impl Dispositions {
    /// The signals at `SIG_DFL` (bit N-1 for signal N): those neither ignored nor caught.
    pub fn at_default(&self) -> u128 {
        !(self.ignored | self.caught)
    }
}

/// This process's [`Dispositions`], from one `open(2)`, `read(2)` and `close(2)` of
/// `/proc/self/status` (the three lines end about 740 bytes in, so one read of the 1 KiB
/// buffer usually holds them); `None` if the file cannot be read or lacks a line.
///
/// The buffer is on the stack, and small on purpose: a supervisor calls this at the deepest
/// point of its start, and keeps every page of stack it has touched for its whole life. The
/// file is scanned a line at a time; a line longer than the buffer (the `Groups` of a user in
/// thousands of groups) is not one of the three, and is skipped.
pub fn dispositions() -> Option<Dispositions> {
    // SAFETY: open(2) of a constant C string; the descriptor is closed below.
    let fd = unsafe {
        libc::open(
            c"/proc/self/status".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: read(2) into a buffer we own, of its length.
    let found = scan(|into| unsafe { libc::read(fd, into.as_mut_ptr().cast(), into.len()) });
    // SAFETY: close(2) of the descriptor opened above.
    unsafe { libc::close(fd) };
    found
}

/// Every signal whose disposition is `SIG_IGN` now, in order: the `SigIgn` mask of
/// `/proc/self/status`, or, without `/proc`, one [`rt_sigaction(2)`] query per signal.
///
/// Covers every signal but `SIGKILL` and `SIGSTOP` (which cannot be ignored), the real-time
/// ones the C library hides included. `SIGPIPE` is listed like any other: whether it matters
/// (std resets it in children it spawns) is the caller's decision.
///
/// [`rt_sigaction(2)`]: https://man7.org/linux/man-pages/man2/rt_sigaction.2.html
pub fn ignored() -> Vec<i32> {
    let mask = match dispositions() {
        Some(d) => d.ignored,
        None => (1..NSIG)
            .filter(|&s| raw_handler(s) == Some(libc::SIG_IGN))
            .fold(0, |mask, s| mask | bit(s)),
    };
    (1..NSIG)
        .filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP && mask & bit(s) != 0)
        .collect()
}

/// [`rt_sigaction(2)`] to `SIG_DFL` for every signal but `SIGKILL`, `SIGSTOP` and the ignored
/// ones in `keep_ignored` (bit N-1 for signal N), which stay as they are.
///
/// Async-signal-safe (no allocation, no lock, raw system calls only): made for the child side
/// of `fork`/`clone`, where handlers installed by the parent would otherwise run with the
/// parent's memory. Block signals around the fork so none arrives before the reset. On
/// failure returns `(signal, errno)` of the first signal that could not be reset.
///
/// [`rt_sigaction(2)`]: https://man7.org/linux/man-pages/man2/rt_sigaction.2.html
pub fn reset_raw(keep_ignored: u128) -> Result<(), (i32, i32)> {
    let mut signo = 1;
    while signo < NSIG {
        if signo != libc::SIGKILL && signo != libc::SIGSTOP && keep_ignored & bit(signo) == 0 {
            let e = raw_default(signo);
            if e != 0 {
                return Err((signo, e));
            }
        }
        signo += 1;
    }
    Ok(())
}

/// Bit N-1 of a signal mask, for signal N (1 to 128).
const fn bit(signo: i32) -> u128 {
    1 << (signo - 1)
}

/// [`Dispositions`] from a status file read by `read` (`read(2)`'s contract: bytes read into
/// the slice, 0 at the end, negative on an error) into a 1 KiB buffer, a line at a time.
fn scan(mut read: impl FnMut(&mut [u8]) -> isize) -> Option<Dispositions> {
    let mut buf = [0u8; 1024];
    let mut lines = StatusLines::default();
    // The bytes held: the start of a line whose end is still to be read.
    let mut held = 0;
    let mut skipping = false;
    loop {
        let n = read(&mut buf[held..]);
        if n <= 0 {
            return None;
        }
        let len = held + n as usize;
        let mut start = 0;
        while let Some(end) = buf[start..len].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + end];
            start += end + 1;
            if std::mem::take(&mut skipping) {
                continue;
            }
            if let Some(done) = lines.take(line) {
                return done;
            }
        }
        buf.copy_within(start..len, 0);
        held = len - start;
        if held == buf.len() {
            (held, skipping) = (0, true);
        }
    }
}

/// The [`Dispositions`] from the text of a status file, once its `SigCgt` line (the last of
/// the three, after `Threads` and `SigIgn`) is complete.
#[cfg(test)]
fn parse_status(text: &[u8]) -> Option<Dispositions> {
    let mut lines = StatusLines::default();
    // Only whole lines: the last one may still be cut off by the read.
    let mut rest = text;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        if let Some(done) = lines.take(&rest[..end]) {
            return done;
        }
        rest = &rest[end + 1..];
    }
    None
}

/// The lines of a status file that [`Dispositions`] are made of, taken as they come.
#[derive(Default)]
struct StatusLines {
    threads: Option<u32>,
    ignored: Option<u128>,
}

impl StatusLines {
    /// One whole line (without its newline): `Some` once the answer is known, at the
    /// `SigCgt` line (`Some(None)` if a line it needs did not parse).
    fn take(&mut self, line: &[u8]) -> Option<Option<Dispositions>> {
        if let Some(n) = line.strip_prefix(b"Threads:") {
            let Some(n) = std::str::from_utf8(n).ok() else {
                return Some(None);
            };
            self.threads = n.trim().parse().ok();
        } else if let Some(hex) = line.strip_prefix(b"SigIgn:") {
            self.ignored = parse_mask(hex);
        } else if let Some(hex) = line.strip_prefix(b"SigCgt:") {
            let done = match (self.threads, self.ignored, parse_mask(hex)) {
                (Some(threads), Some(ignored), Some(caught)) => Some(Dispositions {
                    threads,
                    ignored,
                    caught,
                }),
                _ => None,
            };
            return Some(done);
        }
        None
    }
}

/// A mask as the kernel prints it: hexadecimal, most significant digit first, after a tab.
fn parse_mask(field: &[u8]) -> Option<u128> {
    let hex = field.trim_ascii();
    if hex.is_empty() || hex.len() > 32 {
        return None;
    }
    hex.iter().try_fold(0u128, |mask, &b| {
        let digit = (b as char).to_digit(16)?;
        Some(mask << 4 | u128::from(digit))
    })
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

    #[test]
    fn the_status_file_agrees_with_asking_each_signal() {
        let read = dispositions()
            .expect("/proc/self/status has SigIgn")
            .ignored;
        let ignored = (1..NSIG)
            .filter(|&s| raw_handler(s) == Some(libc::SIG_IGN))
            .fold(0, |mask, s| mask | bit(s));
        // The test harness may change a disposition between the two looks only for signals
        // it owns; SIGPIPE (ignored by the Rust runtime) is stable and must be seen by both.
        assert_ne!(ignored & bit(libc::SIGPIPE), 0);
        assert_eq!(read & bit(libc::SIGPIPE), ignored & bit(libc::SIGPIPE));
        assert_eq!(read & !ignored, 0, "{read:x} vs {ignored:x}");
    }

    #[test]
    fn status_lines_are_parsed_only_when_whole() {
        let text = b"Name:\ttest\nThreads:\t3\nSigPnd:\t0000000000000000\n\
                     SigBlk:\t0000000000010000\nSigIgn:\t0000000000001000\n\
                     SigCgt:\t0000000180004002\nCapInh:\t0\n";
        let whole = Dispositions {
            threads: 3,
            ignored: 0x1000,
            caught: 0x1_8000_4002,
        };
        assert_eq!(parse_status(text), Some(whole));
        assert_eq!(whole.at_default() & 0x1_8000_5002, 0);
        assert_eq!(whole.at_default() & bit(libc::SIGUSR1), bit(libc::SIGUSR1));
        // A read that stopped inside the SigCgt line has not seen it yet.
        let cut = text.iter().position(|&b| b == b'C').unwrap() + 10;
        assert_eq!(parse_status(&text[..cut]), None);
        assert_eq!(
            parse_status(b"Threads:\t1\nSigIgn:\tzz\nSigCgt:\t0\n"),
            None
        );
        assert_eq!(parse_status(b"SigIgn:\t0\nSigCgt:\t0\n"), None);
        // Read a few bytes at a time, past a line longer than the buffer, as `dispositions`
        // reads the file: the same answer.
        let mut long = b"Name:\tx\nGroups:\t".to_vec();
        long.extend(std::iter::repeat_n(b"12345 ".as_slice(), 1000).flatten());
        long.extend_from_slice(b"\n");
        long.extend_from_slice(text);
        for chunk in [1, 7, 300, 1024, 8192] {
            let mut at = 0;
            let found = scan(|into| {
                let n = into.len().min(chunk).min(long.len() - at);
                into[..n].copy_from_slice(&long[at..at + n]);
                at += n;
                n as isize
            });
            assert_eq!(found, Some(whole), "{chunk}-byte reads");
        }
        assert_eq!(parse_mask(b"\t"), None);
        assert_eq!(
            parse_mask(b"\tffffffffffffffff"),
            Some(u128::from(u64::MAX))
        );
    }
}
