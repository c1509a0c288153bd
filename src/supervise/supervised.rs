//! [`Supervised`]: a running child under supervision, its signalfd and its pidfd (module docs
//! of [`crate::supervise`], steps 2 and 3).

use std::io;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use super::Call;
use super::catching::Restore;
use super::retry::retry;
use super::sigset::{SigSet, read_siginfo};
use crate::Signal;
use crate::pidfd::PidFd;

/// The main child: its PID, and its status once reaped (`waitpid(2)` on the PID, which
/// stays ours until then).
#[derive(Debug)]
pub(super) struct Main {
    pid: u32,
    status: Option<ExitStatus>,
}

impl Main {
    pub(super) fn new(pid: u32) -> Main {
        Main { pid, status: None }
    }

    pub(super) fn id(&self) -> u32 {
        self.pid
    }

    /// `waitpid(pid, WNOHANG)`, retrying `EINTR`; the status is kept once collected.
    pub(super) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        loop {
            let mut raw = 0;
            // SAFETY: waitpid(2) on our own unreaped child, writing into a live integer.
            let r = unsafe { libc::waitpid(self.pid as libc::pid_t, &mut raw, libc::WNOHANG) };
            if r == 0 {
                return Ok(None);
            }
            if r > 0 {
                self.status = Some(ExitStatus::from_raw(raw));
                return Ok(self.status);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// A running child under supervision. Dropping it restores the caller's signal state and
/// leaves the child running, like dropping a [`std::process::Child`].
#[derive(Debug)]
pub struct Supervised {
    pub(super) main: Main,
    pub(super) pidfd: PidFd,
    pub(super) signals: OwnedFd,
    pub(super) forward: SigSet,
    pub(super) subreaper: bool,
    /// The service's main process when it is not the child (`MAINPID=`, a PID file).
    pub(super) followed: Option<Followed>,
    /// `TERM`, `INT` or `QUIT` reached the supervisor: an administrative stop.
    pub(super) stop_requested: bool,
    /// Told of each signal read from the signalfd.
    pub(super) observe: super::observe::Observe,
    /// The command leads a process group of its own, which forwarded signals go to.
    pub(super) group: bool,
    /// Forwarded signals rewritten: (from, to), `to` 0 to drop.
    pub(super) rewrite: Vec<(i32, i32)>,
    /// The service's cgroup, when it has one (removed when dropped, if empty).
    pub(super) cgroup: Option<super::cgroup::Cgroup>,
    /// The command's stderr, kept during the start ([`Service::capture_stderr`]).
    ///
    /// [`Service::capture_stderr`]: super::Service::capture_stderr
    pub(super) capture: Option<super::capture::Capture>,
    /// The first system call given up on (after [`super::retry`]'s tries): the supervisor
    /// can no longer do its job, and stops the service.
    pub(super) given_up: Option<(super::Call, io::Error)>,
    // Dropped last: the mask comes back only after the signalfd has been drained.
    pub(super) _restore: Box<Restore>,
    // The signal mask belongs to the spawning thread.
    pub(super) _not_send: PhantomData<*const ()>,
}

/// A main process other than the child: forwarded signals go to it, and its status is
/// collected when it exits as our child (re-parented to the subreaper).
#[derive(Debug)]
pub(crate) struct Followed {
    pub(crate) pid: u32,
    pub(crate) pidfd: PidFd,
    /// Its status, once reaped here; `None` also when it exited as someone else's child.
    pub(crate) status: Option<ExitStatus>,
}

impl Supervised {
    /// The child's process ID.
    pub fn pid(&self) -> u32 {
        self.main.id()
    }

    /// Whether `TERM`, `INT` or `QUIT` reached the supervisor since the spawn (an
    /// administrative stop, which a restart policy must respect).
    pub fn stop_requested(&self) -> bool {
        self.stop_requested
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
    /// A failing `read(2)` or `pidfd_send_signal(2)` is tried again (five tries, 10 ms apart); one
    /// that still fails is the error (the other signals are forwarded all the same).
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let mut chld = false;
        let mut failed = None;
        loop {
            let info = match retry(|| read_siginfo(&self.signals)) {
                Ok(Some(info)) => info,
                Ok(None) => break,
                Err(e) => {
                    self.give_up(Call::ReadSignals, clone_error(&e));
                    failed.get_or_insert(e);
                    break;
                }
            };
            let signo = info.ssi_signo as i32;
            if signo == libc::SIGCHLD {
                chld = true;
            }
            if matches!(signo, libc::SIGTERM | libc::SIGINT | libc::SIGQUIT) {
                self.stop_requested = true;
            }
            let forward = self.forward.contains(signo) && !self.child_already_got(&info);
            if signo != libc::SIGCHLD {
                self.observe.signal(&info, forward);
            }
            if !forward {
                continue;
            }
            // Raised by the supervisor's own write to a closed pipe: not a request.
            if signo == libc::SIGPIPE && info.ssi_pid == std::process::id() {
                continue;
            }
            if let Err(e) = self.forward_signal(signo) {
                // A stop request that does not reach the command leaves the supervisor to
                // stop it (its stop schedule goes on to SIGKILL, through the cgroup).
                if matches!(signo, libc::SIGTERM | libc::SIGINT | libc::SIGQUIT) {
                    self.give_up(Call::Signal, clone_error(&e));
                }
                failed.get_or_insert(e);
            }
        }
        if chld && self.subreaper {
            self.reap_orphans()?;
        }
        failed.map_or(Ok(()), Err)
    }

    /// Records the first call given up on.
    pub(super) fn give_up(&mut self, call: Call, e: io::Error) {
        if self.given_up.is_none() {
            self.given_up = Some((call, e));
        }
    }

    /// Act on the signals recorded while spawning, as [`handle_signals`] would have:
    /// `recorded` are forwarded, `kernel` (a terminal's, sent to our whole process group after
    /// the fork began) only if the child is not in our group.
    ///
    /// [`handle_signals`]: Supervised::handle_signals
    pub(super) fn deliver_recorded(&mut self, (recorded, kernel): (u64, u64)) -> io::Result<()> {
        for signo in 1..=64 {
            let bit = 1 << (signo - 1);
            if (recorded | kernel) & bit == 0 {
                continue;
            }
            if matches!(signo, libc::SIGTERM | libc::SIGINT | libc::SIGQUIT) {
                self.stop_requested = true;
            }
            if !self.forward.contains(signo) {
                continue;
            }
            if recorded & bit == 0 && self.kernel_sent_to_child(signo) {
                continue;
            }
            if let Err(e) = self.forward_signal(signo)
                && matches!(signo, libc::SIGTERM | libc::SIGINT | libc::SIGQUIT)
            {
                self.give_up(Call::Signal, e);
            }
        }
        if (recorded | kernel) & (1 << (libc::SIGCHLD - 1)) != 0 && self.subreaper {
            self.reap_orphans()?;
        }
        Ok(())
    }

    /// Passes a signal the supervisor received on: rewritten, if a rule says so, to the
    /// command's process group while it leads one and is not reaped (`kill(2)` of the
    /// negated group ID), otherwise to the main process.
    fn forward_signal(&mut self, signo: i32) -> io::Result<()> {
        let signo = match self.rewrite.iter().find(|(from, _)| *from == signo) {
            Some(&(_, 0)) => return Ok(()),
            Some(&(_, to)) => to,
            None => signo,
        };
        let Some(signal) = Signal::from_raw(signo) else {
            return Ok(());
        };
        if self.group && self.followed.is_none() && self.main.try_wait()?.is_none() {
            // SAFETY: kill(2) of the group our unreaped child leads: its PID, the group's ID,
            // cannot have been recycled.
            let r = unsafe { libc::kill(-(self.main.id() as libc::pid_t), signo) };
            if r == 0 {
                return Ok(());
            }
        }
        self.send(signal)
    }

    /// Whether the command leads a process group of its own
    /// ([`Supervisor::signal_group`](super::Supervisor::signal_group)).
    pub(crate) fn leads_group(&self) -> bool {
        self.group
    }

    /// `pidfd_send_signal(2)` to the main process (the followed one, if any); one that has
    /// exited is not an error.
    /// A failing call is tried again ([`super::retry`]).
    pub(crate) fn send(&self, signal: Signal) -> io::Result<()> {
        let pidfd = match &self.followed {
            Some(f) => &f.pidfd,
            None => &self.pidfd,
        };
        retry(|| match pidfd.send_signal(signal) {
            Err(e) if e.raw_os_error() != Some(libc::ESRCH) => Err(e),
            _ => Ok(()),
        })
    }

    /// Reap the child if it has exited (`waitpid(2)` with `WNOHANG`), without blocking; a
    /// failing call is tried again (five tries, 10 ms apart).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        retry(|| match self.main.try_wait() {
            // ECHILD is an answer (someone else reaped it), not a passing failure.
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Ok(Err(e)),
            other => other.map(Ok),
        })?
    }

    /// Wait in `poll(2)` until the child exits, forwarding signals meanwhile; return its
    /// status. With [`Supervisor::subreaper`](super::Supervisor::subreaper), orphans that
    /// have already exited are reaped before returning (orphans still running are left
    /// alone).
    pub fn wait(mut self) -> io::Result<ExitStatus> {
        let status = loop {
            if let Some(status) = self.try_wait()? {
                break status;
            }
            if super::poll::wait(&self, &[], None, true)?.signals {
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
        info.ssi_code == libc::SI_KERNEL && self.kernel_sent_to_child(info.ssi_signo as i32)
    }

    /// Whether a signal the kernel sent us (`SI_KERNEL`) went to our whole process group and
    /// the child is in it.
    fn kernel_sent_to_child(&self, signo: i32) -> bool {
        let group_wide = match signo {
            libc::SIGINT | libc::SIGQUIT | libc::SIGTSTP | libc::SIGWINCH => true,
            // A terminal hang-up signals the session leader alone; a leader's exit or an
            // orphaned process group signals the group.
            // SAFETY: getsid(0) and getpid() have no preconditions.
            libc::SIGHUP => unsafe { libc::getsid(0) != libc::getpid() },
            _ => false,
        };
        // SAFETY: getpgid(2) on our unreaped child and getpgrp(2) have no preconditions.
        group_wide && unsafe { libc::getpgid(self.main.id() as libc::pid_t) == libc::getpgrp() }
    }

    /// Reap every exited child but the main one: `waitid(P_ALL, WEXITED|WNOHANG|WNOWAIT)`
    /// to see who it is, then `waitpid(2)` on that PID. A failing `waitid(2)` is tried again
    /// ([`super::retry`]).
    pub(crate) fn reap_orphans(&mut self) -> io::Result<()> {
        retry(|| self.reap_orphans_once())
    }

    fn reap_orphans_once(&mut self) -> io::Result<()> {
        let main = self.main.id() as libc::pid_t;
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
            if pid == 0 || pid == main || crate::sys::subreaper::is_spared(pid) {
                // Nothing has exited, or the main child has (or a readiness check): its status
                // is not ours to take here, and it hides any orphan queued behind it until it
                // is reaped.
                return Ok(());
            }
            let mut status = 0;
            // SAFETY: reaps the exited orphan `pid`, which is our child.
            let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if let Some(f) = &mut self.followed
                && reaped == f.pid as libc::pid_t
            {
                f.status = Some(std::os::unix::process::ExitStatusExt::from_raw(status));
            }
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // Whatever is still pending would hit the caller once the mask is restored. (With
        // the signals kept blocked, it stays pending for the caller's next signalfd: a
        // restart loop reads a late TERM there.)
        if self._restore.mask.is_some() {
            let _ = self.handle_signals();
        }
        if self.subreaper && matches!(self.main.try_wait(), Ok(Some(_))) {
            let _ = self.reap_orphans();
        }
    }
}

/// A copy of an OS error (kept once as the step given up on, once returned).
fn clone_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(n) => io::Error::from_raw_os_error(n),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}
