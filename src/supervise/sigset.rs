//! The signal toolkit of the supervisor: a signal set, the signalfd made from it, and reading
//! one `signalfd_siginfo` at a time.
//!
//! A [`SigSet`] is a `sigset_t` that holds any signal number, real-time ones included (a
//! `u64` bit mask would do on Linux, but `sigset_t` is what `pthread_sigmask(2)` and
//! `signalfd(2)` take, so the set is built once in that form).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A `sigset_t` that holds any signal number, real-time ones included.
#[derive(Clone, Copy)]
pub(crate) struct SigSet(pub(crate) libc::sigset_t);

impl std::fmt::Debug for SigSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members: Vec<i32> = self.members().collect();
        f.debug_tuple("SigSet").field(&members).finish()
    }
}

impl SigSet {
    /// `sigemptyset(3)`.
    pub(crate) fn empty() -> SigSet {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the set.
        unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            SigSet(set.assume_init())
        }
    }

    /// `sigaddset(3)`.
    pub(crate) fn add(&mut self, signo: i32) -> io::Result<()> {
        // SAFETY: the set is initialised; invalid numbers fail with EINVAL.
        cvt(unsafe { libc::sigaddset(&mut self.0, signo) }).map(drop)
    }

    /// `sigismember(3)`.
    pub(crate) fn contains(&self, signo: i32) -> bool {
        // SAFETY: the set is initialised.
        unsafe { libc::sigismember(&self.0, signo) == 1 }
    }

    /// The signal numbers in the set.
    pub(crate) fn members(&self) -> impl Iterator<Item = i32> + '_ {
        (1..=libc::SIGRTMAX()).filter(|&s| self.contains(s))
    }

    /// The set of bits N-1 of `bits` (signals 1 to 64).
    pub(crate) fn from_bits(bits: u64) -> SigSet {
        let mut set = SigSet::empty();
        for signo in (1..=64).filter(|s| bits & 1 << (s - 1) != 0) {
            // Signal numbers above SIGRTMAX are not in a mask this process can have.
            let _ = set.add(signo);
        }
        set
    }

    /// `sigpending(2)`: the signals of this set pending for the calling thread or the process,
    /// bit N-1 for signal N.
    pub(crate) fn pending_of(&self) -> u64 {
        let mut pending = SigSet::empty();
        // SAFETY: sigpending writes the initialised set; it fails only for a bad pointer.
        unsafe { libc::sigpending(&mut pending.0) };
        self.members()
            .filter(|&s| s <= 64 && pending.contains(s))
            .fold(0, |bits, s| bits | 1 << (s - 1))
    }

    /// `sigtimedwait(2)` with a zero timeout for each signal of the set: takes one pending
    /// instance of each out of the queue (the set must be blocked), so that nothing reports
    /// it again.
    pub(crate) fn take_pending(&self) {
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        for signo in self.members() {
            let mut one = SigSet::empty();
            let _ = one.add(signo);
            // SAFETY: an initialised one-signal set, a null siginfo pointer and a valid
            // timeout; EAGAIN (none pending any more) is the only expected failure.
            unsafe { libc::sigtimedwait(&one.0, std::ptr::null_mut(), &zero) };
        }
    }

    /// `pthread_sigmask(SIG_BLOCK)`: block these in the calling thread, return the old mask.
    pub(crate) fn block(&self) -> io::Result<SigSet> {
        let mut old = SigSet::empty();
        // SAFETY: both sets are initialised.
        let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &self.0, &mut old.0) };
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(old)
    }

    /// `pthread_sigmask(SIG_SETMASK)`: make this set the calling thread's mask.
    pub(crate) fn set_mask(&self) {
        // SAFETY: the set is initialised; SIG_SETMASK with a valid set cannot fail.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }

    /// `signalfd(-1, set, SFD_CLOEXEC|SFD_NONBLOCK)`.
    pub(crate) fn signalfd(&self) -> io::Result<OwnedFd> {
        // SAFETY: the set is initialised; a new descriptor is returned on success.
        let fd =
            cvt(unsafe { libc::signalfd(-1, &self.0, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
        // SAFETY: signalfd returned a fresh descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// `read(2)` one `signalfd_siginfo`; `None` when nothing is pending.
pub(crate) fn read_siginfo(fd: &OwnedFd) -> io::Result<Option<libc::signalfd_siginfo>> {
    let mut info = MaybeUninit::<libc::signalfd_siginfo>::uninit();
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    loop {
        // SAFETY: reads at most `size` bytes into `info`.
        let n = unsafe { libc::read(fd.as_raw_fd(), info.as_mut_ptr().cast(), size) };
        if n == size as isize {
            // SAFETY: the kernel wrote a whole record.
            return Ok(Some(unsafe { info.assume_init() }));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            // A signalfd hands out whole records or nothing.
            _ if n >= 0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Some(libc::EAGAIN) => return Ok(None),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

/// `-1` as the last OS error, for the libc calls that report that way.
pub(crate) fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}
