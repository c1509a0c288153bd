//! [`Supervisor::spawn_exec`]: start the command without losing a signal (module docs of
//! [`crate::supervise`], step 1), with a clean signal slate.
//!
//! The command is started by the child set-up engine ([`crate::child`]): [`child::spawn`]
//! (`clone(CLONE_VM | CLONE_VFORK)`, which resets every disposition and empties the mask in
//! the child; a single-threaded supervisor hands it the dispositions it read, so that the
//! child resets only those not at `SIG_DFL`). No code of the supervisor runs in the child.

use std::io;
use std::marker::PhantomData;

use super::catching::{Catching, Restore};
use super::error::{Call, Error};
use super::retry::retry;
use super::sigset::SigSet;
use super::supervised::Main;
use super::{Supervised, Supervisor};
use crate::Signal;
use crate::child::{self, Exec, Setup};
use crate::pidfd::PidFd;
use crate::sys::sigaction::{self, Dispositions};
use crate::sys::subreaper;

/// The caller's state changed for the spawn, and the recording handler bridging it.
struct Begun {
    /// On the heap: the caller's mask and handlers take 600 bytes, which would otherwise be
    /// copied from frame to frame with the rest (a supervisor keeps its stack resident).
    restore: Box<Restore>,
    /// The caller's dispositions, when it is single-threaded: nothing changes them until the
    /// spawn.
    known: Option<Dispositions>,
    forward: SigSet,
    set: SigSet,
    catching: Catching,
}

/// After the spawn: the blocked signals' signalfd, what was recorded before, what to restore.
struct Ended {
    restore: Box<Restore>,
    forward: SigSet,
    signals: std::os::fd::OwnedFd,
    recorded: (u64, u64),
}

impl Supervisor {
    /// Spawn `exec` with `setup` through the child set-up engine, with the signals caught,
    /// then block them, open the signalfd, and forward what arrived meanwhile (module docs,
    /// step 1). The child starts with every disposition at `SIG_DFL` (but see
    /// [`reset_ignored`](Supervisor::reset_ignored)) and an empty mask, whatever the caller's.
    ///
    /// A set-up step or `execve(2)` that fails is [`Error::Setup`] with its step (`ENOENT`:
    /// not found; `EACCES`, `ENOEXEC`: not executable). On any error the caller's signal state
    /// is restored and no child is left behind.
    ///
    /// ```
    /// use pidward::child::{Exec, Setup};
    /// use pidward::supervise::{Supervisor, exit_code};
    ///
    /// let child = Supervisor::new()
    ///     .spawn_exec(Setup::new(), Exec::new("sh").args(["-c", "exit 3"]))?;
    /// assert_eq!(exit_code(child.wait()?), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_exec(self, setup: Setup, exec: &Exec) -> Result<Supervised, Error> {
        let loop_error = |source| Error::Loop {
            call: Call::Spawn,
            source,
        };
        let begun = self.begin().map_err(loop_error)?;
        // Prepared after `begin`: the dispositions the child keeps are the caller's, with
        // SIGCHLD no longer ignored.
        let setup = if self.group {
            setup.process_group(0)
        } else {
            setup
        };
        let setup = match begun.known {
            Some(d) => setup.known_dispositions(d),
            None => setup,
        };
        let spawned = setup
            .keep_ignored_signals(!self.reset_ignored)
            .parent_death_signal(self.parent_death)
            .prepare()
            .and_then(|plan| {
                begun.catching.forking();
                child::spawn(&plan, exec)
            });
        let ended = self.end(begun);
        let (pid, pidfd) = spawned?.into_parts();
        let pidfd = PidFd::from_owned(pidfd);
        // The command runs: from here on, a failure must not leave it running unsupervised.
        let ended = match ended {
            Ok(ended) => ended,
            Err(e) => {
                end_unsupervised(pid, &pidfd);
                return Err(loop_error(e));
            }
        };
        self.supervised(ended, pid, pidfd).map_err(loop_error)
    }

    /// Before the spawn: `SIGCHLD` not ignored, the subreaper flag, and the forwarded signals
    /// (and `SIGCHLD`) blocked, in a single-threaded caller, or else caught by a recording
    /// handler (see [`Catching`]).
    fn begin(&self) -> io::Result<Begun> {
        if let Some(s) = self.forward.iter().find(|s| !s.is_catchable()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot forward SIG{s}: it cannot be caught or blocked"),
            ));
        }
        let mut restore = Box::<Restore>::default();
        // With SIGCHLD ignored the kernel would reap the child itself and lose its status.
        let chld = sigaction::get(libc::SIGCHLD)?;
        if chld.sa_sigaction == libc::SIG_IGN || chld.sa_flags & libc::SA_NOCLDWAIT != 0 {
            sigaction::set_default(libc::SIGCHLD)?;
            restore.sigchld = Some(chld);
        }
        if self.subreaper && !subreaper::get()? {
            subreaper::set(true)?;
            restore.subreaper = true;
        }
        let mut forward = SigSet::empty();
        for s in &self.forward {
            forward.add(s.as_raw())?;
        }
        let mut set = forward;
        set.add(libc::SIGCHLD)?;
        // Read after SIGCHLD is set: these are the dispositions at the spawn.
        let known = sigaction::dispositions().filter(|d| d.threads == 1);
        let catching = Catching::start(&set, known.is_some())?;
        Ok(Begun {
            restore,
            known,
            forward,
            set,
            catching,
        })
    }

    /// After the spawn, whether it succeeded or not: block, take what was recorded before,
    /// and open the signalfd (a signal arriving from now on stays pending for it). The
    /// caller's handlers stay replaced until the result (or an error) is dropped, which
    /// restores the caller's state.
    fn end(&self, begun: Begun) -> io::Result<Ended> {
        let Begun {
            mut restore,
            known: _,
            forward,
            set,
            catching,
        } = begun;
        let old_mask = match catching.mask_before() {
            Some(old) => Ok(old),
            None => set.block(),
        };
        let recorded = catching.recorded();
        // The caller's handlers come back when the supervision is over (see `Restore`).
        restore.handlers = Some(catching);
        // A supervisor about to exit keeps them blocked: a signal arriving after the command
        // exited must not kill it before it has cleaned up.
        restore.mask = (!self.keep_blocked).then_some(old_mask?);
        Ok(Ended {
            // ENOMEM, EMFILE and ENFILE pass: tried again before the spawn is given up on.
            signals: retry(|| set.signalfd())?,
            restore,
            forward,
            recorded,
        })
    }

    /// The handle on the running command, once the signals recorded meanwhile are forwarded.
    fn supervised(&self, ended: Ended, pid: u32, pidfd: PidFd) -> io::Result<Supervised> {
        let mut supervised = Supervised {
            main: Main::new(pid),
            pidfd,
            signals: ended.signals,
            forward: ended.forward,
            subreaper: self.subreaper,
            followed: None,
            stop_requested: false,
            observe: Default::default(),
            group: self.group,
            rewrite: self
                .rewrite
                .iter()
                .map(|(from, to)| (from.as_raw(), to.map_or(0, Signal::as_raw)))
                .collect(),
            cgroup: None,
            capture: None,
            given_up: None,
            _restore: ended.restore,
            _not_send: PhantomData,
        };
        if let Err(e) = supervised.deliver_recorded(ended.recorded) {
            end_unsupervised(pid, &supervised.pidfd);
            return Err(e);
        }
        Ok(supervised)
    }
}

/// A command whose supervision could not be set up after it was spawned: `SIGKILL` through
/// its pidfd, then `waitpid(2)` (blocking: a killed child exits at once), so that a failed
/// spawn leaves nothing behind. (Its orphans, if it had time to make any, are ours as the
/// subreaper, or in the run's cgroup, which the failed start kills.)
fn end_unsupervised(pid: u32, pidfd: &PidFd) {
    let _ = retry(|| match pidfd.send_signal(Signal::KILL) {
        Err(e) if e.raw_os_error() != Some(libc::ESRCH) => Err(e),
        _ => Ok(()),
    });
    let mut status = 0;
    loop {
        // SAFETY: waitpid(2) on our own unreaped child, writing into a live integer.
        let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
        if r != -1 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}
