//! The run loop: spawn one command, forward signals to it, reap, report its exit status.
//!
//! A supervisor sits between the caller of a command and the command itself (`pidward lock`
//! holds a lock for it, `pidward run` a PID file). It must be transparent: signals sent to the
//! supervisor reach the command, and the command's exit status becomes the supervisor's. It
//! does so with one thread, in three steps:
//!
//! 1. **Spawn without losing a signal.** [`Supervisor::spawn`] catches the forwarded signals
//!    and `SIGCHLD` with a handler that only records them (`sigaction(2)`), spawns with
//!    [`std::process::Command`], then blocks them (`pthread_sigmask(2)`), opens a
//!    `signalfd(2)` for them (`SFD_CLOEXEC|SFD_NONBLOCK`), puts the caller's handlers back,
//!    and forwards whatever was recorded meanwhile. A signal that arrives while the command
//!    starts is therefore delivered, never lost and never fatal to the supervisor. (Blocking
//!    before the spawn would do the same, but a child inherits its parent's mask and std does
//!    not reset it: every spawn would need a `pre_exec` hook, and a hook makes std `fork(2)`
//!    instead of using `posix_spawn(3)`, which costs more than the whole rest of
//!    `pidward lock`.) A pidfd on the child (`pidfd_open(2)`) follows at once; it is race-free
//!    because the child is ours and not yet reaped.
//! 2. **Poll.** [`Supervised::wait`] sleeps in `poll(2)` on the signalfd and the pidfd. A
//!    forwarded signal is read from the signalfd and re-sent with `pidfd_send_signal(2)`,
//!    which can never hit a recycled PID. The pidfd becomes readable when the child exits;
//!    the child is then reaped with `waitpid(2)` on its PID (still ours until that call).
//! 3. **Restore.** Once the child has been reaped, the signalfd is drained, and the signal
//!    mask, the `SIGCHLD` disposition and the subreaper flag are put back as they were: the
//!    library leaves the caller as it found it.
//!
//! Details that make it transparent:
//!
//! - **Children get a clean slate.** `execve(2)` resets handlers, but the signal mask and
//!   *ignored* dispositions survive it. When the caller has signals blocked, or ignores some
//!   (and [`Supervisor::reset_ignored`] is on, the default), a `pre_exec` hook empties the
//!   mask (`sigprocmask(2)`) and resets those signals to `SIG_DFL` (`sigaction(2)`) in the
//!   child. `SIGPIPE`, which the Rust runtime ignores, is left to std, which resets it
//!   itself. One exception: glibc's `posix_spawn(3)` leaves its two internal signals (32 and
//!   33, below `SIGRTMIN`) ignored in the child; they are not application signals.
//! - **`SIGCHLD` must not be ignored** while we wait: with `SIG_IGN` (or `SA_NOCLDWAIT`) the
//!   kernel reaps children by itself and their exit status is lost. The supervisor sets
//!   `SIG_DFL` for the duration and restores the caller's disposition afterwards.
//! - **No double delivery from the terminal.** Ctrl-C, Ctrl-\ and window resizes make the
//!   kernel signal the whole foreground process group (`si_code == SI_KERNEL`), which already
//!   includes the child when it shares our group. Forwarding those too would deliver them
//!   twice, and a second Ctrl-C means "force quit" to many programs. Such signals are not
//!   forwarded while the child is in our process group.
//! - **Subreaper.** With [`Supervisor::subreaper`], `prctl(PR_SET_CHILD_SUBREAPER)` makes
//!   orphaned descendants of the command our children; they are reaped as they exit. The
//!   main child is never reaped by that sweep: `waitid(P_ALL, WNOWAIT)` peeks first, so its
//!   status is only ever collected by [`Supervised::try_wait`] or [`Supervised::wait`].
//!
//! Threads: signal dispositions belong to the process, masks and signalfds to threads.
//! Signals sent to the process are forwarded reliably only when no other thread leaves them
//! unblocked, so use this from a single-threaded process (as the `pidward` binary is), or
//! block the signals in every thread first; and spawn one supervised child at a time. Waiting
//! for the child does not depend on it (the pidfd does that), and [`Supervised`] is not
//! [`Send`]: it must be waited for on the thread that spawned it.

use std::io;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::event::{PollFd, PollFlags, poll};

use crate::Signal;
use crate::pidfd::PidFd;

/// The signals forwarded by default.
const DEFAULT_FORWARD: [Signal; 6] = [
    Signal::TERM,
    Signal::INT,
    Signal::HUP,
    Signal::QUIT,
    Signal::USR1,
    Signal::USR2,
];

/// Builder for a supervised child: which signals to forward, whether to adopt orphans.
///
/// ```
/// use pidward::supervise::{Supervisor, exit_code};
/// use std::process::Command;
///
/// let child = Supervisor::new().spawn(Command::new("sh").args(["-c", "exit 3"]))?;
/// let status = child.wait()?;
/// assert_eq!(exit_code(status), 3);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Supervisor {
    forward: Vec<Signal>,
    subreaper: bool,
    reset_ignored: bool,
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor::new()
    }
}

impl Supervisor {
    /// A supervisor that forwards `TERM`, `INT`, `HUP`, `QUIT`, `USR1` and `USR2`, does not
    /// adopt orphans, and resets ignored signals to their default in the child.
    pub fn new() -> Self {
        Supervisor {
            forward: DEFAULT_FORWARD.to_vec(),
            subreaper: false,
            reset_ignored: true,
        }
    }

    /// Replace the set of forwarded signals. `KILL` and `STOP` cannot be caught, so
    /// [`spawn`](Supervisor::spawn) rejects them with [`io::ErrorKind::InvalidInput`].
    pub fn forward(mut self, signals: &[Signal]) -> Self {
        self.forward = signals.to_vec();
        self
    }

    /// Become a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`) while supervising: orphaned
    /// descendants of the command are re-parented to us, and reaped as they exit.
    ///
    /// Every child of the calling process other than the main one counts as an orphan, so use
    /// this only in a process that does not wait for children of its own.
    pub fn subreaper(mut self, on: bool) -> Self {
        self.subreaper = on;
        self
    }

    /// Whether signals that the caller ignores (`SIG_IGN`) are reset to `SIG_DFL` in the
    /// child (default: yes, a clean slate).
    ///
    /// Turn it off to keep the POSIX convention that ignored signals stay ignored across
    /// `execve(2)`: `nohup` and the shells' `cmd &` rely on it (they ignore `HUP`, or `INT`
    /// and `QUIT`, so that a hang-up or a Ctrl-C spares the command). flock(1) keeps them.
    pub fn reset_ignored(mut self, on: bool) -> Self {
        self.reset_ignored = on;
        self
    }

    /// Spawn `cmd` with the signals caught, then block them, open the signalfd and a pidfd on
    /// the child, and forward what arrived meanwhile (module docs, step 1).
    ///
    /// Errors from `execve(2)` come back as std reports them: [`io::ErrorKind::NotFound`] for
    /// a missing program, [`io::ErrorKind::PermissionDenied`] for one that is not executable.
    /// On any error the caller's signal state is restored and no child is left behind;
    /// forwarded signals that arrived during a failed spawn are dropped.
    ///
    /// When the caller has signals blocked or ignored (see
    /// [`reset_ignored`](Supervisor::reset_ignored)), this adds a `pre_exec` hook to `cmd`
    /// that gives the child a clean signal slate (hooks accumulate if `cmd` is spawned again;
    /// they are idempotent).
    pub fn spawn(self, cmd: &mut Command) -> io::Result<Supervised> {
        if let Some(s) = self.forward.iter().find(|s| !s.is_catchable()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot forward SIG{s}: it cannot be caught or blocked"),
            ));
        }
        let mut restore = Restore::default();

        // With SIGCHLD ignored the kernel would reap the child itself and lose its status.
        let chld = get_action(libc::SIGCHLD)?;
        if chld.sa_sigaction == libc::SIG_IGN || chld.sa_flags & libc::SA_NOCLDWAIT != 0 {
            set_default(libc::SIGCHLD)?;
            restore.sigchld = Some(chld);
        }

        if self.subreaper {
            let mut was: libc::c_int = 0;
            // SAFETY: PR_GET_CHILD_SUBREAPER writes one int through the pointer.
            cvt(unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut was) })?;
            if was == 0 {
                // SAFETY: plain prctl(2) call with integer arguments.
                cvt(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) })?;
                restore.subreaper = true;
            }
        }

        let mut set = SigSet::empty();
        for s in &self.forward {
            set.add(s.as_raw())?;
        }
        set.add(libc::SIGCHLD)?;

        // While spawning, the signals are caught by a recording handler rather than blocked:
        // a child inherits its parent's mask and std does not reset it, so blocking first
        // would force a hook into every spawn (see the module docs).
        let catching = Catching::start(&set)?;
        let hook = self.clean_slate_hook()?;
        if let Some(hook) = hook {
            // SAFETY: the hook is async-signal-safe (see `clean_slate_hook`).
            unsafe { cmd.pre_exec(hook) };
        }
        let spawned = cmd.spawn();
        // Block first, then put the caller's handlers back: a signal arriving in between
        // stays pending for the signalfd; one that arrived before was recorded.
        restore.mask = Some(set.block()?);
        let recorded = catching.finish();
        let signals = set.signalfd()?;
        let mut child = spawned?;
        let pidfd = match PidFd::open(child.id()) {
            Ok(p) => p,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let mut forward = SigSet::empty();
        for s in &self.forward {
            forward.add(s.as_raw())?;
        }
        let mut supervised = Supervised {
            child,
            pidfd,
            signals,
            forward,
            subreaper: self.subreaper,
            _restore: restore,
            _not_send: PhantomData,
        };
        supervised.deliver_recorded(recorded)?;
        Ok(supervised)
    }

    /// The `pre_exec` hook that empties the child's signal mask (`sigprocmask(2)`) and resets
    /// ignored signals (`sigaction(2)`), or `None` when the child would get a clean slate
    /// anyway: then std can use `posix_spawn(3)`.
    #[allow(clippy::type_complexity)]
    fn clean_slate_hook(
        &self,
    ) -> io::Result<Option<Box<dyn FnMut() -> io::Result<()> + Send + Sync + 'static>>> {
        // Everything the hook uses is built here, before the fork: it must not allocate.
        let ignored = if self.reset_ignored {
            ignored_signals()
        } else {
            Vec::new()
        };
        let masked = !SigSet::current()?.is_empty();
        if ignored.is_empty() && !masked {
            return Ok(None);
        }
        let empty = SigSet::empty();
        Ok(Some(Box::new(move || {
            // Runs in the child between fork(2) and execve(2). It makes only sigaction(2) and
            // sigprocmask(2) calls, on a list and a set built before the fork and on stack
            // values: no allocation, no locks, so it is async-signal-safe.
            // SAFETY: a zeroed sigaction with SIG_DFL is a valid action.
            let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
            dfl.sa_sigaction = libc::SIG_DFL;
            for &signo in &ignored {
                // SAFETY: a valid signal number and a fully initialised action.
                unsafe { libc::sigaction(signo, &dfl, std::ptr::null_mut()) };
            }
            // SAFETY: `empty` is an initialised set.
            if unsafe { libc::sigprocmask(libc::SIG_SETMASK, &empty.0, std::ptr::null_mut()) } == -1
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })))
    }
}

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
struct Catching {
    saved: Vec<(i32, libc::sigaction)>,
}

impl Catching {
    fn start(set: &SigSet) -> io::Result<Catching> {
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
    fn finish(self) -> u64 {
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

/// A running child under supervision. Dropping it restores the caller's signal state and
/// leaves the child running, like dropping a [`Child`].
#[derive(Debug)]
pub struct Supervised {
    child: Child,
    pidfd: PidFd,
    signals: OwnedFd,
    forward: SigSet,
    subreaper: bool,
    // Dropped last: the mask comes back only after the signalfd has been drained.
    _restore: Restore,
    // The signal mask belongs to the spawning thread.
    _not_send: PhantomData<*const ()>,
}

impl Supervised {
    /// The child's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The pidfd of the child: readable (`poll(2)`) once it has exited.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// The signalfd of the blocked signals: readable when one is pending. Call
    /// [`handle_signals`](Supervised::handle_signals) then.
    pub fn signal_fd(&self) -> BorrowedFd<'_> {
        self.signals.as_fd()
    }

    /// Drain the signalfd (`read(2)`): forward each forwarded signal to the child with
    /// `pidfd_send_signal(2)`, and on `SIGCHLD` reap exited orphans when subreaping.
    ///
    /// Never reaps the main child; a child that has already exited makes forwarding a no-op.
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let mut chld = false;
        while let Some(info) = read_siginfo(&self.signals)? {
            let signo = info.ssi_signo as i32;
            if signo == libc::SIGCHLD {
                chld = true;
            }
            if !self.forward.contains(signo) || self.child_already_got(&info) {
                continue;
            }
            let Some(signal) = Signal::from_raw(signo) else {
                continue;
            };
            self.send(signal)?;
        }
        if chld && self.subreaper {
            self.reap_orphans()?;
        }
        Ok(())
    }

    /// Act on the signals recorded while spawning, as [`handle_signals`] would have.
    ///
    /// [`handle_signals`]: Supervised::handle_signals
    fn deliver_recorded(&mut self, recorded: u64) -> io::Result<()> {
        for signo in 1..=64 {
            if recorded & (1 << (signo - 1)) == 0 || !self.forward.contains(signo) {
                continue;
            }
            if let Some(signal) = Signal::from_raw(signo) {
                self.send(signal)?;
            }
        }
        if recorded & (1 << (libc::SIGCHLD - 1)) != 0 && self.subreaper {
            self.reap_orphans()?;
        }
        Ok(())
    }

    /// `pidfd_send_signal(2)`; a child that has exited is not an error.
    fn send(&self, signal: Signal) -> io::Result<()> {
        match self.pidfd.send_signal(signal) {
            Err(e) if e.raw_os_error() != Some(libc::ESRCH) => Err(e),
            _ => Ok(()),
        }
    }

    /// Reap the child if it has exited (`waitpid(2)` with `WNOHANG`), without blocking.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Wait in `poll(2)` until the child exits, forwarding signals meanwhile; return its
    /// status. With [`Supervisor::subreaper`], orphans that have already exited are reaped
    /// before returning (orphans still running are left alone).
    pub fn wait(mut self) -> io::Result<ExitStatus> {
        let status = loop {
            if let Some(status) = self.try_wait()? {
                break status;
            }
            let mut fds = [
                PollFd::new(&self.signals, PollFlags::IN),
                PollFd::new(&self.pidfd, PollFlags::IN),
            ];
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            if !fds[0].revents().is_empty() {
                self.handle_signals()?;
            }
        };
        if self.subreaper {
            self.reap_orphans()?;
        }
        Ok(status)
    }

    /// Whether the kernel sent this signal to our whole process group (terminal keys and
    /// resizes, hang-up of a session leader's terminal), so the child already has it.
    fn child_already_got(&self, info: &libc::signalfd_siginfo) -> bool {
        if info.ssi_code != libc::SI_KERNEL {
            return false;
        }
        let signo = info.ssi_signo as i32;
        let group_wide = match signo {
            libc::SIGINT | libc::SIGQUIT | libc::SIGTSTP | libc::SIGWINCH => true,
            // A terminal hang-up signals the session leader alone; a leader's exit or an
            // orphaned process group signals the group.
            // SAFETY: getsid(0) and getpid() have no preconditions.
            libc::SIGHUP => unsafe { libc::getsid(0) != libc::getpid() },
            _ => false,
        };
        // SAFETY: getpgid(2) on our unreaped child and getpgrp(2) have no preconditions.
        group_wide && unsafe { libc::getpgid(self.child.id() as libc::pid_t) == libc::getpgrp() }
    }

    /// Reap every exited child but the main one: `waitid(P_ALL, WEXITED|WNOHANG|WNOWAIT)`
    /// to see who it is, then `waitpid(2)` on that PID.
    fn reap_orphans(&mut self) -> io::Result<()> {
        let main = self.child.id() as libc::pid_t;
        loop {
            let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
            // SAFETY: waitid(2) fills `info`, which is zeroed so that si_pid reads 0 when no
            // child has exited.
            let r = unsafe {
                libc::waitid(
                    libc::P_ALL,
                    0,
                    info.as_mut_ptr(),
                    libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
                )
            };
            if r == -1 {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::ECHILD) => Ok(()),
                    Some(libc::EINTR) => continue,
                    _ => Err(e),
                };
            }
            // SAFETY: zero-initialised, then filled by waitid.
            let pid = unsafe { info.assume_init().si_pid() };
            if pid == 0 || pid == main {
                // Nothing has exited, or the main child has: its status is not ours to take
                // here, and it hides any orphan queued behind it until it is reaped.
                return Ok(());
            }
            let mut status = 0;
            // SAFETY: reaps the exited orphan `pid`, which is our child.
            unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // Whatever is still pending would hit the caller once the mask is restored.
        let _ = self.handle_signals();
        if self.subreaper && matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.reap_orphans();
        }
    }
}

/// The exit code a supervisor should exit with: the child's code, or 128+N when signal N
/// killed it (the shells' convention).
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::ExitStatus;
/// use pidward::supervise::exit_code;
///
/// assert_eq!(exit_code(ExitStatus::from_raw(23 << 8)), 23);
/// assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGTERM)), 143);
/// ```
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signo)) => 128u8.saturating_add(signo as u8),
        (None, None) => 1,
    }
}

/// What [`Supervisor::spawn`] changed in the calling process, undone on drop.
#[derive(Debug, Default)]
struct Restore {
    mask: Option<SigSet>,
    sigchld: Option<libc::sigaction>,
    subreaper: bool,
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(old) = &self.mask {
            // SAFETY: `old` came from pthread_sigmask(2) itself.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old.0, std::ptr::null_mut()) };
        }
        if let Some(old) = &self.sigchld {
            // SAFETY: `old` came from sigaction(2) itself.
            unsafe { libc::sigaction(libc::SIGCHLD, old, std::ptr::null_mut()) };
        }
        if self.subreaper {
            // SAFETY: plain prctl(2) call with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 0 as libc::c_ulong) };
        }
    }
}

/// A `sigset_t` that holds any signal number, real-time ones included.
#[derive(Clone, Copy)]
struct SigSet(libc::sigset_t);

impl std::fmt::Debug for SigSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members: Vec<i32> = (1..=libc::SIGRTMAX())
            .filter(|&s| self.contains(s))
            .collect();
        f.debug_tuple("SigSet").field(&members).finish()
    }
}

impl SigSet {
    /// `sigemptyset(3)`.
    fn empty() -> SigSet {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the set.
        unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            SigSet(set.assume_init())
        }
    }

    /// `sigaddset(3)`.
    fn add(&mut self, signo: i32) -> io::Result<()> {
        // SAFETY: the set is initialised; invalid numbers fail with EINVAL.
        cvt(unsafe { libc::sigaddset(&mut self.0, signo) }).map(drop)
    }

    /// `sigismember(3)`.
    fn contains(&self, signo: i32) -> bool {
        // SAFETY: the set is initialised.
        unsafe { libc::sigismember(&self.0, signo) == 1 }
    }

    /// The calling thread's mask (`pthread_sigmask(2)` with no change).
    fn current() -> io::Result<SigSet> {
        let mut cur = SigSet::empty();
        // SAFETY: a null new set only queries.
        let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut cur.0) };
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(cur)
    }

    /// Whether no signal is in the set.
    fn is_empty(&self) -> bool {
        self.members().next().is_none()
    }

    /// The signal numbers in the set.
    fn members(&self) -> impl Iterator<Item = i32> + '_ {
        (1..=libc::SIGRTMAX()).filter(|&s| self.contains(s))
    }

    /// `pthread_sigmask(SIG_BLOCK)`: block these in the calling thread, return the old mask.
    fn block(&self) -> io::Result<SigSet> {
        let mut old = SigSet::empty();
        // SAFETY: both sets are initialised.
        let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &self.0, &mut old.0) };
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(old)
    }

    /// `signalfd(-1, set, SFD_CLOEXEC|SFD_NONBLOCK)`.
    fn signalfd(&self) -> io::Result<OwnedFd> {
        // SAFETY: the set is initialised; a new descriptor is returned on success.
        let fd =
            cvt(unsafe { libc::signalfd(-1, &self.0, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
        // SAFETY: signalfd returned a fresh descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// `read(2)` one `signalfd_siginfo`; `None` when nothing is pending.
fn read_siginfo(fd: &OwnedFd) -> io::Result<Option<libc::signalfd_siginfo>> {
    let mut info = MaybeUninit::<libc::signalfd_siginfo>::uninit();
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    loop {
        // SAFETY: reads at most `size` bytes into `info`.
        let n = unsafe {
            libc::read(
                std::os::fd::AsRawFd::as_raw_fd(fd),
                info.as_mut_ptr().cast(),
                size,
            )
        };
        if n == size as isize {
            // SAFETY: the kernel wrote a whole record.
            return Ok(Some(unsafe { info.assume_init() }));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            _ if n >= 0 => return Err(io::Error::other("short read from signalfd")),
            Some(libc::EAGAIN) => return Ok(None),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

/// `sigaction(signo, NULL, &old)`: the current disposition.
fn get_action(signo: i32) -> io::Result<libc::sigaction> {
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only queries.
    cvt(unsafe { libc::sigaction(signo, std::ptr::null(), old.as_mut_ptr()) })?;
    // SAFETY: filled by sigaction on success.
    Ok(unsafe { old.assume_init() })
}

/// `sigaction(signo, SIG_DFL)`.
fn set_default(signo: i32) -> io::Result<()> {
    // SAFETY: a zeroed sigaction with SIG_DFL is a valid action.
    let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
    dfl.sa_sigaction = libc::SIG_DFL;
    // SAFETY: installs the valid default action built above.
    cvt(unsafe { libc::sigaction(signo, &dfl, std::ptr::null_mut()) }).map(drop)
}

/// Signals whose disposition is `SIG_IGN` now, except `SIGPIPE` (std resets it in children)
/// and the ones that cannot be caught. One `sigaction(2)` query per signal.
fn ignored_signals() -> Vec<i32> {
    (1..=libc::SIGRTMAX())
        .filter(|&s| !matches!(s, libc::SIGKILL | libc::SIGSTOP | libc::SIGPIPE))
        .filter(|&s| get_action(s).is_ok_and(|a| a.sa_sigaction == libc::SIG_IGN))
        .collect()
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}
