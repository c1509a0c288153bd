//! The supervision engine: spawn one command, forward signals to it, wait for its readiness,
//! reap it and its orphans, report its exit status.
//!
//! A supervisor sits between the caller of a command and the command itself (`pidward lock`
//! holds a lock for it, `pidward run` a PID file). It must be transparent: signals sent to the
//! supervisor reach the command, and the command's exit status becomes the supervisor's. It
//! does so with one thread, in three steps:
//!
//! 1. **Spawn without losing a signal.** [`Supervisor::spawn_exec`] blocks the forwarded
//!    signals and `SIGCHLD` (`pthread_sigmask(2)`; in a caller with other threads, which
//!    could take a signal the one thread blocks, it catches them with a handler that only
//!    records them instead, `sigaction(2)`), starts the command with the child set-up engine
//!    ([`crate::child::spawn`], which returns a pidfd made with the child), opens a
//!    `signalfd(2)` for them (`SFD_CLOEXEC|SFD_NONBLOCK`), and forwards whatever was pending
//!    or recorded before the fork. A signal that arrives while the command starts is
//!    therefore delivered, never lost and never fatal to the supervisor.
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
//!   *ignored* dispositions survive it. The child set-up empties the mask and resets every
//!   disposition to `SIG_DFL` with raw `rt_sigaction(2)` calls (glibc's own two signals, 32
//!   and 33, are refused by its `sigaction(3)` and left alone by its `posix_spawn(3)`, yet an
//!   ignored one would stay ignored across the exec); with [`Supervisor::reset_ignored`] off,
//!   the application signals the caller ignores stay ignored.
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
//! [`Service`] is the whole supervisor of `pidward run` on top of that: set-up steps, a
//! readiness wait ([`crate::notify::ReadyWatch`]) in the same poll loop, and a failed start
//! that stops the command and its orphans with a [`crate::stop::Schedule`].
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | [`Supervisor`], the builder |
//! | `spawn.rs` | [`Supervisor::spawn_exec`] |
//! | `supervised.rs` | [`Supervised`]: forwarding, reaping orphans, waiting |
//! | `sigset.rs`, `catching.rs` | the signal toolkit: sets, signalfd, the recording handler, restoring the caller's state |
//! | `poll.rs` | the loop's one `poll(2)` |
//! | `observe.rs` | [`Observer`]: the hook a lifecycle log and the output relay watch the loop through |
//! | `service.rs`, `running.rs`, `tree.rs` | [`Service`] and [`Running`]: start, readiness, the main process, stopping the tree |
//! | `mechanism.rs`, `cgroup.rs` | [`Mechanism`]: a cgroup of the service's own (`cgroup.kill`), or the subreaper and process groups |
//! | `capture.rs` | the command's stderr kept during the start ([`Service::capture_stderr`]) |
//! | `policy.rs` | [`Policy`], [`Cause`], [`ExitSet`]: which ends of a run restart it |
//! | `restart.rs` | [`Restart`]: backoff, limit, the wait between runs |
//! | `lifecycle.rs` | [`Lifecycle`]: the runs of a service under a restart policy |
//! | `watchdog.rs` | the watchdog of [`Service::watchdog`] |
//! | `state.rs` | [`State`], [`StateFile`]: the state `status` shows, beside the PID file |
//! | `leftover.rs` | [`leftover`]: the processes a dead supervisor left in its run's cgroup |
//! | `retry.rs` | a failed call of the loop or of a stop tried again before it is given up on |
//! | `exit.rs`, `error.rs` | exit codes, [`Error`] |
//!
//! Threads: signal dispositions belong to the process, masks and signalfds to threads.
//! Signals sent to the process are forwarded reliably only when no other thread leaves them
//! unblocked, so use this from a single-threaded process (as the `pidward` binary is), or
//! block the signals in every thread first; and spawn one supervised child at a time. Waiting
//! for the child does not depend on it (the pidfd does that), and [`Supervised`] is not
//! [`Send`]: it must be waited for on the thread that spawned it.

use crate::Signal;

mod capture;
mod catching;
mod cgroup;
mod error;
mod exit;
mod leftover;
mod lifecycle;
mod mechanism;
mod observe;
mod policy;
mod poll;
mod restart;
pub(crate) mod retry;
mod running;
mod service;
mod sigset;
mod spawn;
mod state;
mod state_file;
mod supervised;
mod tree;
mod watchdog;

pub use error::{Call, Error};
pub use exit::{exec_error_code, exit_code, forwardable};
pub use leftover::{Cleared, Leftover, leftover};
pub use lifecycle::{Ended, Events, Lifecycle};
pub use observe::{Event, Observer};
pub use policy::{Cause, ExitSet, ExitSetError, Policy};
pub use restart::{Next, Restart, STOP_SIGNALS, Wake, wait_backoff};
pub use running::Running;
pub use service::{KillMode, Ready, Service, Started};
pub use state::{Exit, HISTORY, Phase, State};
pub use state_file::{StateFile, read as read_state, read_given as read_state_given};
pub use supervised::Supervised;
pub use tree::Mechanism;

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
/// use pidward::child::{Exec, Setup};
/// use pidward::supervise::{Supervisor, exit_code};
///
/// let child = Supervisor::new()
///     .spawn_exec(Setup::new(), Exec::new("sh").args(["-c", "exit 3"]))?;
/// let status = child.wait()?;
/// assert_eq!(exit_code(status), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Supervisor {
    forward: Vec<Signal>,
    subreaper: bool,
    reset_ignored: bool,
    keep_blocked: bool,
    parent_death: Option<Signal>,
    group: bool,
    rewrite: Vec<(Signal, Option<Signal>)>,
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
            keep_blocked: false,
            parent_death: None,
            group: false,
            rewrite: Vec::new(),
        }
    }

    /// Replace the set of forwarded signals. `KILL` and `STOP` cannot be caught, so
    /// [`spawn_exec`](Supervisor::spawn_exec) rejects them with an [`Error::Loop`] whose source
    /// is [`std::io::ErrorKind::InvalidInput`].
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

    /// The signal the child gets when the supervisor dies (`prctl(PR_SET_PDEATHSIG)`, set in
    /// the child before `execve(2)`; default: none).
    ///
    /// `KILL` makes a command die with a supervisor that is itself killed (`kill -9`), so that
    /// it cannot run on unsupervised while its PID file is stale and a second copy starts.
    /// The kernel clears the setting when the command executes a set-user-ID program; only
    /// the child gets it, not what it forks later. A child whose supervisor died before the
    /// setting took effect gets the signal at once.
    pub fn parent_death_signal(mut self, signal: Option<Signal>) -> Self {
        self.parent_death = signal;
        self
    }

    /// Start the command in a process group of its own (`setpgid(0, 0)` in the child) and
    /// forward signals to that whole group, not only to the command (default: off; tini's
    /// `-g`, dumb-init's default). A shell-script entry point such as `sh -c 'app; cleanup'`
    /// does not pass a `TERM` on to `app` by itself; sent to the group, `app` gets it too.
    ///
    /// The group is signalled by its ID only while the command, its leader, is not reaped
    /// (its PID, the group's ID, cannot be recycled then); after that, signals go to the
    /// main process alone. In a group of its own, the command no longer gets the terminal's
    /// keys (Ctrl-C, Ctrl-\, Ctrl-Z) from the kernel: they reach it through the supervisor.
    ///
    /// ```
    /// use pidward::child::{Exec, Setup};
    /// use pidward::supervise::{Supervisor, exit_code};
    ///
    /// let child = Supervisor::new()
    ///     .signal_group(true)
    ///     .spawn_exec(Setup::new(), &Exec::new("true"))?;
    /// assert_eq!(exit_code(child.wait()?), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn signal_group(mut self, on: bool) -> Self {
        self.group = on;
        self
    }

    /// Forward `from` as `to` (dumb-init's `--rewrite`), or drop it with `None`; a later
    /// rule for the same signal replaces an earlier one. Only forwarding is rewritten: `TERM`
    /// to the supervisor is an administrative stop whatever it is forwarded as, and the stop
    /// schedules send what they say.
    ///
    /// ```
    /// use pidward::Signal;
    /// use pidward::supervise::Supervisor;
    ///
    /// // nginx stops gracefully on QUIT, where a container runtime sends TERM.
    /// let supervisor = Supervisor::new().rewrite(Signal::TERM, Some(Signal::QUIT));
    /// # drop(supervisor);
    /// ```
    pub fn rewrite(mut self, from: Signal, to: Option<Signal>) -> Self {
        self.rewrite.retain(|(f, _)| *f != from);
        self.rewrite.push((from, to));
        self
    }

    /// Keep the forwarded signals blocked when the [`Supervised`] is dropped, instead of
    /// restoring the caller's mask (default: restore).
    ///
    /// For a process that exits once its command has: a signal that arrives between the
    /// command's exit and the supervisor's own then stays pending and harmless, instead of
    /// killing the supervisor (with its default action) before it has cleaned up.
    pub fn keep_blocked(mut self, on: bool) -> Self {
        self.keep_blocked = on;
        self
    }
}
