//! [`Lifecycle`]: a [`Service`] run again and again under a [`Restart`] policy, its
//! [`State`] recorded at each transition.
//!
//! Each run is started, waited for until ready, then until its end; the end is classified
//! ([`Cause`]), recorded, and handed to [`Restart::next`]; a restart waits out its delay in
//! [`wait_backoff`](super::wait_backoff) (where `TERM`, `INT` and `QUIT` end everything at once and `HUP` starts
//! the command now). The fixed rules:
//!
//! - **An administrative stop is never followed by a restart.** `TERM`, `INT` or `QUIT`
//!   reaching the supervisor during a run is forwarded and marks the run as stopped. The
//!   signals stay blocked from the first spawn to the end (the supervisor is made with
//!   [`Supervisor::keep_blocked`](super::Supervisor::keep_blocked)), so one that arrives as
//!   a run ends is never lost: it is read from the run's signalfd after the run ended, or it
//!   stays pending and the backoff's signalfd reads it.
//! - **Set-up and exec failures are final**, never retried ([`Error::Setup`]).
//! - With [`first_start_final`](Lifecycle::first_start_final) (a detached start, whose
//!   launcher has been told the truth and is gone), the first start's failure is final too;
//!   later runs follow the policy, failed starts included (a readiness timeout is
//!   [`Cause::Timeout`]).
//! - The backoff restarts from its first delay after a run that lasted the reset time,
//!   counted from readiness.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant, SystemTime};

use super::Error;
use super::Running;
use super::policy::Cause;
use super::restart::{Next, Restart, Wake, wait_backoff_observed};
use super::service::{KillMode, Service, Started};
use super::state::{Exit, Phase, State};
use super::state_file::StateFile;
use crate::child::{Exec, Setup};

/// A call made when a run starts to stop: told to ([`Running::note_stopping`]), or with
/// something of its tree left to signal after its command ended (`Running::stop_tree`).
pub(super) struct Hook(Box<dyn FnMut()>);

impl Hook {
    /// Makes the call.
    pub(super) fn call(mut self) {
        (self.0)();
    }
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

impl Running {
    /// Calls the stopping hook once: when the supervisor was told to stop, or (`ending`)
    /// when the loop gave up and stops the service.
    pub(super) fn note_stopping(&mut self, ending: bool) {
        if (ending || self.child.stop_requested())
            && let Some(hook) = self.on_stopping.take()
        {
            hook.call();
        }
    }
}

/// What the caller of [`Lifecycle::run`] is told as it goes (every method has a default that
/// does nothing).
pub trait Events {
    /// A run was spawned, as `pid`.
    fn spawned(&mut self, pid: u32) {
        let _ = pid;
    }

    /// A run's start is over; `first` for the first run.
    fn ready(&mut self, started: &Started, first: bool) {
        let _ = (started, first);
    }

    /// A run's start failed, and the service starts again (the failure that ends a
    /// lifecycle is [`Lifecycle::run`]'s error instead).
    fn start_failed(&mut self, error: &Error) {
        let _ = error;
    }

    /// A run ended; `next` says what follows.
    fn ended(&mut self, exit: &Exit, next: Next) {
        let _ = (exit, next);
    }
}

/// [`Events`] that are not listened to.
impl Events for () {}

/// How one run ended, as [`Lifecycle::run`] classifies it.
struct RunEnd {
    /// The exit status, or why the start failed.
    end: Result<ExitStatus, Error>,
    /// When it became ready, if it did.
    ready_at: Option<Instant>,
    /// Whether a stop was asked for during the run.
    stopped: bool,
    /// Whether the watchdog ended it.
    watchdog: bool,
}

/// How a [`Lifecycle`] ended (when its last run was not a failed start, which
/// [`Lifecycle::run`] returns as its error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// The last run's status.
    pub status: ExitStatus,
    /// The supervisor's exit code for it ([`Restart::exit_code`]).
    pub code: u8,
    /// [`Phase::Failed`] when the restart limit was reached, else [`Phase::Exited`].
    pub phase: Phase,
    /// Whether it ended on an administrative stop.
    pub stopped: bool,
}

/// [`Lifecycle`]: a [`Service`] run again and again under a [`Restart`] policy, its
/// [`State`] recorded at each transition.
///
/// Each run is started, waited for until ready, then until its end; the end is classified
/// ([`Cause`]), recorded, and handed to [`Restart::next`]; a restart waits out its delay in
/// [`wait_backoff`](super::wait_backoff) (where `TERM`, `INT` and `QUIT` end everything at once and `HUP` starts
/// the command now). The fixed rules:
///
/// - **An administrative stop is never followed by a restart.** `TERM`, `INT` or `QUIT`
///   reaching the supervisor during a run is forwarded and marks the run as stopped. The
///   signals stay blocked from the first spawn to the end (the supervisor is made with
///   [`Supervisor::keep_blocked`](super::Supervisor::keep_blocked)), so one that arrives as
///   a run ends is never lost: it is read from the run's signalfd after the run ended, or it
///   stays pending and the backoff's signalfd reads it.
/// - **Set-up and exec failures are final**, never retried ([`Error::Setup`]).
/// - With [`first_start_final`](Lifecycle::first_start_final) (a detached start, whose
///   launcher has been told the truth and is gone), the first start's failure is final too;
///   later runs follow the policy, failed starts included (a readiness timeout is
///   [`Cause::Timeout`]).
/// - The backoff restarts from its first delay after a run that lasted the reset time,
///   counted from readiness.
///
/// ```
/// use std::time::Duration;
/// use pidward::child::{Exec, Setup};
/// use pidward::supervise::{Lifecycle, Phase, Policy, Restart, Service};
///
/// let dir = tempfile::tempdir()?;
/// let runs = dir.path().join("runs");
/// let script = format!("echo >> {}; [ $(wc -l < {}) -ge 3 ]", runs.display(), runs.display());
/// let restart = Restart::new(Policy::OnFailure).delay(Duration::ZERO);
/// let ended = Lifecycle::new(Service::new(), restart).run(
///     || {
///         let mut cmd = Exec::new("sh");
///         cmd.args(["-c", &script]);
///         (cmd, Setup::new())
///     },
///     &mut (),
/// )?;
/// assert_eq!((ended.code, ended.phase), (0, Phase::Exited));
/// assert_eq!(std::fs::read_to_string(&runs)?.lines().count(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Lifecycle {
    service: Service,
    restart: Restart,
    state_file: Option<StateFile>,
    first_final: bool,
    stderr_tail: Option<String>,
}

impl Lifecycle {
    /// `service` under `restart`. The service's supervisor is made to keep its signals
    /// blocked: when [`run`](Lifecycle::run) returns they still are (so that one arriving
    /// late cannot kill the caller before it has cleaned up).
    pub fn new(mut service: Service, restart: Restart) -> Lifecycle {
        service.parts().0.keep_blocked = true;
        Lifecycle {
            service,
            restart,
            state_file: None,
            first_final: false,
            stderr_tail: None,
        }
    }

    /// Record the state in `file` at each transition (see [`StateFile`](super::StateFile)); it
    /// is removed when [`run`](Lifecycle::run) returns, unless the supervisor gave up.
    pub fn state_file(mut self, file: StateFile) -> Lifecycle {
        self.state_file = Some(file);
        self
    }

    /// Whether a failure of the first start is final whatever the policy (default: no).
    pub fn first_start_final(mut self, on: bool) -> Lifecycle {
        self.first_final = on;
        self
    }

    /// The command's last standard error before its last failed start, with
    /// [`Service::capture_stderr`](super::Service::capture_stderr).
    pub fn stderr_tail(&self) -> Option<String> {
        self.stderr_tail.clone()
    }

    /// Runs the service until the policy lets it end: `command` makes each run's command
    /// and set-up. `Err` when the last run was a failed start (the command was stopped), or
    /// a start was impossible.
    pub fn run(
        &mut self,
        mut command: impl FnMut() -> (Exec, Setup),
        events: &mut dyn Events,
    ) -> Result<Ended, Error> {
        let (supervisor, kill_mode) = self.service.parts();
        let forward = supervisor.forward.clone();
        let tree = match kill_mode {
            KillMode::Main => "main",
            _ => "tree",
        };
        let mut state = State::new(self.restart.policy(), tree);
        let mut first = true;
        loop {
            state.phase = Phase::Starting;
            state.started = Some(SystemTime::now());
            (state.ready, state.main_pid, state.next_start) = (None, None, None);
            // Recorded once spawned, with its PID and cgroup: before that there is nothing
            // of this run to see (and a file renamed over another costs ext4 a flush).
            let spawned = Instant::now();
            let (cmd, setup) = command();
            let running = match self.service.clone().start(cmd, setup) {
                Ok(r) => r,
                Err(e) => return Err(self.finish(&mut state, Phase::Exited, e)),
            };
            events.spawned(running.pid());
            state.main_pid = Some(running.pid());
            state.tree = running.mechanism().as_str().to_owned();
            state.cgroup = running.cgroup().map(std::path::Path::to_path_buf);
            // A run that is ready at once is recorded running in a moment, with all of this;
            // one that waits for readiness is starting until then.
            if !running.ready_at_once() {
                self.record(&state);
            }
            let RunEnd {
                end,
                ready_at,
                stopped,
                watchdog,
            } = self.follow(running, &mut state, events, first);
            let (status, cause, error) = match end {
                Ok(status) if watchdog => (Some(status), Cause::Watchdog, None),
                Ok(status) => (Some(status), self.restart.cause(status), None),
                Err(e @ (Error::Setup(_) | Error::Channel { .. })) => {
                    return Err(self.finish(&mut state, Phase::Exited, e));
                }
                // Part of the service outlived the stop: never restarted, and the record of
                // what is left stays.
                Err(Error::GaveUp {
                    call,
                    source,
                    left,
                    cgroup,
                }) => {
                    state.gave_up = Some(format!("{call}: {source}"));
                    let e = Error::GaveUp {
                        call,
                        source,
                        left,
                        cgroup,
                    };
                    return Err(self.finish(&mut state, Phase::Abandoned, e));
                }
                Err(e) if first && self.first_final => {
                    return Err(self.finish(&mut state, Phase::Exited, e));
                }
                Err(e) => {
                    let (status, cause) = match &e {
                        Error::Exited { status, .. } => {
                            (Some(*status), self.restart.cause(*status))
                        }
                        Error::Timeout { .. } => (None, Cause::Timeout),
                        _ => (None, Cause::Code),
                    };
                    (status, cause, Some(e))
                }
            };
            first = false;
            let exit = Exit::new(status, cause, spawned.elapsed());
            let healthy = ready_at.map_or(Duration::ZERO, |t| t.elapsed());
            let raw = status.unwrap_or(ExitStatus::from_raw(1 << 8));
            let next = self.restart.next(raw, cause, healthy, stopped);
            if let (Some(e), Next::After(_)) = (&error, next) {
                events.start_failed(e);
            }
            events.ended(&exit, next);
            state.push_exit(exit);
            state.restarts = self.restart.restarts();
            state.consecutive_failures = self.restart.consecutive_failures();
            state.main_pid = None;
            let mut stopped = stopped;
            let phase = match next {
                Next::After(delay) => {
                    state.phase = Phase::Backoff;
                    state.next_start = Some(SystemTime::now() + delay);
                    self.record(&state);
                    match wait_backoff_observed(delay, &forward, self.service.observe()) {
                        Ok(Wake::Elapsed | Wake::Now) => continue,
                        Ok(Wake::Stop(_)) | Err(_) => {
                            stopped = true;
                            Phase::Exited
                        }
                    }
                }
                Next::GaveUp => Phase::Failed,
                Next::Done => Phase::Exited,
            };
            if let Some(e) = error {
                return Err(self.finish(&mut state, phase, e));
            }
            self.finish(&mut state, phase, ());
            return Ok(Ended {
                status: raw,
                code: self.restart.exit_code(raw),
                phase,
                stopped,
            });
        }
    }

    /// Follows one started run until it ends: its readiness, then its end, with the state
    /// recorded at each transition.
    fn follow(
        &mut self,
        mut running: Running,
        state: &mut State,
        events: &mut dyn Events,
        first: bool,
    ) -> RunEnd {
        let mut ready_at = None;
        let end = match running.wait_ready() {
            Ok(started) => {
                ready_at = Some(Instant::now());
                events.ready(&started, first);
                state.phase = Phase::Running;
                state.ready = Some(SystemTime::now());
                state.main_pid = started.main_pid.or(state.main_pid);
                state.status = started.status.clone();
                self.record(state);
                if let Some(file) = &self.state_file {
                    let (file, mut stopping) = (file.clone(), state.clone());
                    stopping.phase = Phase::Stopping;
                    running.on_stopping = Some(Hook(Box::new(move || {
                        let _ = file.write(&stopping);
                    })));
                }
                running.wait()
            }
            Err(e) => {
                self.stderr_tail = running.stderr_tail();
                Err(e)
            }
        };
        // A stop that arrived as the run ended is still in the run's signalfd.
        let _ = running.child.handle_signals();
        let stopped = running.stop_requested();
        let watchdog = running.watchdog_fired();
        if let Some(status) = running.status() {
            state.status = Some(status.to_owned());
        }
        drop(running);
        RunEnd {
            end,
            ready_at,
            stopped,
            watchdog,
        }
    }

    /// The restart policy (its counters, after [`run`](Lifecycle::run)).
    pub fn restart(&self) -> &Restart {
        &self.restart
    }

    /// Writes the state, if a file was given. The file is a view: failing to write it does
    /// not fail the service.
    fn record(&self, state: &State) {
        if let Some(file) = &self.state_file {
            let _ = file.write(state);
        }
    }

    /// The last transition: a failed or abandoned service keeps its record, any other
    /// removes it.
    fn finish<T>(&self, state: &mut State, phase: Phase, value: T) -> T {
        state.phase = phase;
        state.next_start = None;
        if let Some(file) = &self.state_file {
            if matches!(phase, Phase::Failed | Phase::Abandoned) {
                let _ = file.write(state);
            } else {
                let _ = file.remove();
            }
        }
        value
    }
}
