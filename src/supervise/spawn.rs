//! [`Supervisor::spawn`]: start the command without losing a signal, and give it a clean
//! signal slate (module docs of [`crate::supervise`], step 1).
//!
//! This is the only code of the supervisor that runs in the child: the `pre_exec` hook built
//! by [`Supervisor::clean_slate_hook`], between `fork(2)` and `execve(2)`.

use std::io;
use std::marker::PhantomData;
use std::os::unix::process::CommandExt;
use std::process::Command;

use super::catching::{Catching, Restore, ignored_signals};
use super::sigset::SigSet;
use super::{Supervised, Supervisor};
use crate::pidfd::PidFd;
use crate::sys::{sigaction, subreaper};

/// A `pre_exec` hook, as `CommandExt::pre_exec` takes it.
type Hook = Box<dyn FnMut() -> io::Result<()> + Send + Sync + 'static>;

impl Supervisor {
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

        // While spawning, the signals are caught by a recording handler rather than blocked:
        // a child inherits its parent's mask and std does not reset it, so blocking first
        // would force a hook into every spawn (see the module docs).
        let catching = Catching::start(&set)?;
        if let Some(hook) = self.clean_slate_hook()? {
            // SAFETY: the hook is async-signal-safe (see `clean_slate_hook`).
            unsafe { cmd.pre_exec(hook) };
        }
        let spawned = cmd.spawn();
        // Block first, then put the caller's handlers back: a signal arriving in between
        // stays pending for the signalfd; one that arrived before was recorded.
        let old_mask = set.block()?;
        // A supervisor about to exit keeps them blocked: a signal arriving after the command
        // exited must not kill it before it has cleaned up.
        restore.mask = (!self.keep_blocked).then_some(old_mask);
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
        let mut supervised = Supervised {
            child,
            pidfd,
            signals,
            forward,
            subreaper: self.subreaper,
            followed: None,
            stop_requested: false,
            _restore: restore,
            _not_send: PhantomData,
        };
        supervised.deliver_recorded(recorded)?;
        Ok(supervised)
    }

    /// The `pre_exec` hook that empties the child's signal mask (`sigprocmask(2)`), resets
    /// every disposition to the default (`rt_sigaction(2)`) when some are ignored, and sets
    /// the parent-death signal (`prctl(2)`), or `None` when none of it is needed: then std can
    /// use `posix_spawn(3)`.
    fn clean_slate_hook(&self) -> io::Result<Option<Hook>> {
        // Everything the hook uses is built here, before the fork: it must not allocate.
        let reset = self.reset_ignored && !ignored_signals().is_empty();
        let masked = !SigSet::current()?.is_empty();
        let death = self.parent_death.map(|s| s.as_raw());
        if !reset && !masked && death.is_none() {
            return Ok(None);
        }
        let empty = SigSet::empty();
        let parent = rustix::process::getpid();
        Ok(Some(Box::new(move || {
            // Runs in the child between fork(2) and execve(2). It makes only raw
            // rt_sigaction(2) calls (the C library's sigaction refuses its own two signals,
            // which a parent may have ignored) and sigprocmask(2), on a set built before the
            // fork: no allocation, no locks, so it is async-signal-safe.
            if reset && let Err((_, errno)) = crate::sys::sigaction::reset_all_raw() {
                return Err(io::Error::from_raw_os_error(errno));
            }
            // SAFETY: `empty` is an initialised set.
            if unsafe { libc::sigprocmask(libc::SIG_SETMASK, &empty.0, std::ptr::null_mut()) } == -1
            {
                return Err(io::Error::last_os_error());
            }
            if let Some(signo) = death {
                // Last, after any change of credentials (which clears the setting). prctl(2),
                // getppid(2) and kill(2) are plain system calls.
                // SAFETY: PR_SET_PDEATHSIG takes a signal number.
                if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signo as libc::c_ulong) } == -1 {
                    return Err(io::Error::last_os_error());
                }
                // The supervisor may have died before the setting took effect.
                if rustix::process::getppid() != Some(parent) {
                    // SAFETY: kill(2) of this process itself (getpid(2) has no preconditions).
                    unsafe { libc::kill(libc::getpid(), signo) };
                }
            }
            Ok(())
        })))
    }
}
