//! [`Service`]: the supervisor of `pidward run`, as a library. One thread, one `poll(2)` loop
//! over the signalfd, the command's pidfd and, while the start is not over, the readiness
//! channel.
//!
//! The start ends, in this order of precedence, when the command declares readiness (or at
//! once, with [`Ready::Exec`]), when it reports a failure (`ERRNO=`), when it exits, or at the
//! deadline ([`crate::notify::ReadyWatch`] owns it and `EXTEND_TIMEOUT_USEC=`). A failed start
//! stops the command and the orphans it left with the stop schedule before it is reported:
//! nothing of a failed start is left running. The sd_notify listener stays in the loop for the
//! command's whole life, so that later messages (`STATUS=`, and the barrier of
//! `pidward notify`) are answered.

use std::os::unix::io::RawFd;
use std::path::PathBuf;
use std::time::Duration;

use super::observe::Observe;
use super::{Error, Observer, Running, Supervisor};
use crate::child::{Error as StepError, Exec, Setup, Step};
use crate::notify::{Check, Listener, NOTIFY_FD, NOTIFY_SOCKET, Probe, ReadySource, ReadyWatch};
use crate::stop::Schedule;

/// When a start counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ready {
    /// The command was spawned (`execve(2)` succeeded).
    #[default]
    Exec,
    /// `READY=1` over a private sd_notify socket, passed in `NOTIFY_SOCKET`.
    Notify,
    /// A newline on descriptor N (notify-fd), announced in `NOTIFY_FD`.
    Fd(RawFd),
    /// A probe run by the supervisor succeeds ([`Service::ready_probe`]).
    Probe,
}

/// What ends with the command when its main process exits, and how the tree is found
/// ([`Mechanism`](super::Mechanism)). A failed start always ends the whole tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KillMode {
    /// The whole tree, stopped with the stop schedule before the supervisor reports the
    /// exit: a service is over when nothing of it is left. In a cgroup of its own where the
    /// supervisor can make one (root, a writable cgroup v2), otherwise every process
    /// re-parented to the supervisor (a child subreaper) and the command's process group.
    #[default]
    Tree,
    /// [`Tree`](KillMode::Tree), always in a cgroup of its own: the start fails (a set-up
    /// step, [`Step::Cgroup`](crate::child::Step::Cgroup)) where none can be made.
    Cgroup,
    /// The command's process group only: the command starts in a group of its own, and what
    /// is left in it is stopped with the schedule; processes that left it (`setsid(2)`, or
    /// another group) run on.
    Group,
    /// Only the main process: orphans that outlive it are left running (and unsupervised).
    Main,
}

/// What a successful start said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Started {
    /// The `MAINPID=` the command announced, if any (checked to be in the supervised tree).
    pub main_pid: Option<u32>,
    /// The last `STATUS=` before readiness, if any.
    pub status: Option<String>,
}

/// Builder of a supervised service: readiness, its timeout, how a failed start is stopped.
///
/// ```
/// use std::time::Duration;
/// use pidward::child::{Exec, Setup};
/// use pidward::supervise::{Error, Ready, Service};
///
/// let mut cmd = Exec::new("sh");
/// cmd.args(["-c", "exit 4"]);
/// let mut running = Service::new()
///     .ready(Ready::Notify)
///     .ready_timeout(Duration::from_secs(5))
///     .start(cmd, Setup::new())?;
/// match running.wait_ready() {
///     Err(Error::Exited { status, .. }) => assert_eq!(status.code(), Some(4)),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Service {
    /// On the heap: a service is built by value, a call at a time, and cloned for each run;
    /// boxed, each move is a pointer's, not 320 bytes more of a supervisor's stack.
    parts: Box<Parts>,
}

/// What a [`Service`] is set up with.
#[derive(Debug, Clone)]
struct Parts {
    supervisor: Supervisor,
    ready: Ready,
    ready_timeout: Duration,
    stop: Schedule,
    kill_mode: KillMode,
    follow_pidfile: Option<PathBuf>,
    observe: Observe,
    probe: Option<(Check, Duration)>,
    capture: Option<usize>,
    watchdog: Option<(Duration, crate::Signal)>,
}

impl Default for Service {
    fn default() -> Self {
        Service::new()
    }
}

impl Service {
    /// A service that is ready on exec, waits 60 s for readiness otherwise, stops a failed
    /// start with `TERM/5/KILL/5`, and supervises with [`Supervisor::new`] as a subreaper.
    pub fn new() -> Service {
        Service {
            parts: Box::new(Parts {
                supervisor: Supervisor::new().subreaper(true),
                ready: Ready::Exec,
                ready_timeout: Duration::from_secs(60),
                stop: Schedule::timeout(crate::Signal::TERM, Duration::from_secs(5)),
                kill_mode: KillMode::Tree,
                follow_pidfile: None,
                observe: Observe::default(),
                probe: None,
                capture: None,
                watchdog: None,
            }),
        }
    }

    /// The supervisor to spawn with (forwarded signals, subreaper, signal hygiene).
    pub fn supervisor(mut self, supervisor: Supervisor) -> Service {
        self.parts.supervisor = supervisor;
        self
    }

    /// When the start counts as done (default: [`Ready::Exec`]).
    pub fn ready(mut self, ready: Ready) -> Service {
        self.parts.ready = ready;
        self
    }

    /// Ready when `check` succeeds ([`Ready::Probe`]): the supervisor tries it at once, then
    /// every `interval` ([`PROBE_INTERVAL`](crate::notify::PROBE_INTERVAL) is s6's habit),
    /// inside its poll loop, until the readiness timeout. For services that never declare
    /// readiness themselves.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pidward::child::{Exec, Setup};
    /// use pidward::notify::Check;
    /// use pidward::supervise::Service;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let flag = dir.path().join("up");
    /// let mut cmd = Exec::new("sh");
    /// cmd.args(["-c", "sleep 0.2; touch \"$0\"; sleep 1", flag.to_str().unwrap()]);
    /// let mut running = Service::new()
    ///     .ready_probe(Check::File(flag), Duration::from_millis(50))
    ///     .start(cmd, Setup::new())?;
    /// running.wait_ready()?;
    /// assert!(running.wait()?.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ready_probe(mut self, check: Check, interval: Duration) -> Service {
        self.parts.ready = Ready::Probe;
        self.parts.probe = Some((check, interval));
        self
    }

    /// Keep the last `max` bytes of the command's standard error (a pipe the supervisor
    /// drains; what comes after readiness is read and dropped), for a start that fails:
    /// [`Running::stderr_tail`]. For a detached start with nowhere else to write it; this
    /// replaces the set-up's stderr.
    pub fn capture_stderr(mut self, max: usize) -> Service {
        self.parts.capture = Some(max);
        self
    }

    /// How long to wait for readiness (default: 60 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Service {
        self.parts.ready_timeout = timeout;
        self
    }

    /// How a failed start is stopped, the command and its orphans together, and how the
    /// orphans left by a command that exited are (default: `TERM/5/KILL/5`).
    pub fn stop_schedule(mut self, schedule: Schedule) -> Service {
        self.parts.stop = schedule;
        self
    }

    /// A forking daemon (systemd's `Type=forking` with `PIDFile=`): the start is over when
    /// the command has exited 0 and `path` names a process of the supervised tree, which is
    /// then the main process; the service lives as long as it does.
    pub fn follow_pidfile(mut self, path: impl Into<PathBuf>) -> Service {
        self.parts.follow_pidfile = Some(path.into());
        self
    }

    /// What ends with the main process (default: [`KillMode::Tree`]).
    pub fn kill_mode(mut self, mode: KillMode) -> Service {
        self.parts.kill_mode = mode;
        self
    }

    /// Who watches the loop: signals that reach the supervisor, each new `STATUS=`, and
    /// the observer's own descriptor (see [`Observer`]).
    pub fn observer(mut self, observer: std::rc::Rc<dyn Observer>) -> Service {
        self.parts.observe = Observe(Some(observer));
        self
    }

    /// A watchdog (systemd's `WatchdogSec=`): once the start is over, the command must send
    /// `WATCHDOG=1` to `$NOTIFY_SOCKET` every `timeout` (it gets `WATCHDOG_USEC`), or it is
    /// sent `signal` and then stopped with the stop schedule; see [`Running::watchdog_fired`].
    pub fn watchdog(mut self, timeout: Duration, signal: crate::Signal) -> Service {
        self.parts.watchdog = Some((timeout, signal));
        self
    }

    /// The readiness channel of [`start`](Service::start), and the command's environment and
    /// set-up for it (a readiness channel the caller's environment names is not passed on).
    fn ready_source(
        &self,
        cmd: &mut Exec,
        setup: Setup,
    ) -> Result<(Option<ReadySource>, Setup), Error> {
        if self.parts.ready == Ready::Exec {
            drop_inherited_channel(cmd);
            return Ok((None, setup));
        }
        self.ready_channel(cmd, setup)
    }

    /// [`ready_source`](Service::ready_source) for a readiness other than
    /// [`Ready::Exec`] (which it never gets): out of line, so that a start without one does
    /// not keep this code's pages resident (docs/benchmarks.md, "Start-up: the read-only data
    /// first…").
    #[inline(never)]
    fn ready_channel(
        &self,
        cmd: &mut Exec,
        mut setup: Setup,
    ) -> Result<(Option<ReadySource>, Setup), Error> {
        let channel = |source| Error::Channel { source };
        let source = match self.parts.ready {
            Ready::Exec => return Ok((None, setup)),
            Ready::Probe => {
                drop_inherited_channel(cmd);
                let (check, interval) = self.parts.probe.clone().ok_or_else(|| Error::Channel {
                    source: crate::notify::Error::Sys {
                        call: crate::notify::Call::Probe,
                        source: std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            "Ready::Probe without a check (see Service::ready_probe)",
                        ),
                    },
                })?;
                ReadySource::Probe(Probe::new(check, interval).map_err(channel)?)
            }
            Ready::Notify => {
                let listener = Listener::bind_private().map_err(channel)?;
                cmd.env(NOTIFY_SOCKET, listener.address())
                    .env_remove(NOTIFY_FD);
                ReadySource::Notify(listener)
            }
            Ready::Fd(n) => {
                let (source, write) = ReadySource::pipe().map_err(channel)?;
                setup = setup.fd(n, write);
                cmd.env(NOTIFY_FD, n.to_string()).env_remove(NOTIFY_SOCKET);
                source
            }
        };
        Ok((Some(source), setup))
    }

    /// The supervisor and the kill mode, for the restart loop ([`super::Lifecycle`]).
    /// The loop's observer.
    pub(super) fn observe(&self) -> &Observe {
        &self.parts.observe
    }

    pub(super) fn parts(&mut self) -> (&mut Supervisor, KillMode) {
        (&mut self.parts.supervisor, self.parts.kill_mode)
    }

    /// Prepares `setup` and the readiness channel, spawns `cmd` under the supervisor with
    /// them, and returns the running command. Nothing is spawned when a step fails before
    /// the fork; a step that fails in the child comes back as [`Error::Setup`].
    ///
    /// The command's environment gets the readiness variables (`NOTIFY_SOCKET` or
    /// `NOTIFY_FD`), and loses any it inherited: a child must never see its supervisor's own
    /// supervisor.
    pub fn start(self, mut cmd: Exec, setup: Setup) -> Result<Running, Error> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        let (source, mut setup) = self.ready_source(&mut cmd, setup)?;
        // The watchdog's pings come over a socket of their own when readiness has none.
        let mut listener = None;
        if let Some((timeout, _)) = self.parts.watchdog {
            if !matches!(source, Some(ReadySource::Notify(_))) {
                let own = Listener::bind_private().map_err(|source| Error::Channel { source })?;
                cmd.env(NOTIFY_SOCKET, own.address());
                listener = Some(own);
            }
            cmd.env("WATCHDOG_USEC", timeout.as_micros().to_string());
        }
        // Nor its supervisor's watchdog.
        for var in ["WATCHDOG_USEC", "WATCHDOG_PID"] {
            if (self.parts.watchdog.is_none() || var == "WATCHDOG_PID")
                && std::env::var_os(var).is_some()
            {
                cmd.env_remove(var);
            }
        }
        let watch = source
            .map(|s| ReadyWatch::new(s, self.parts.ready_timeout))
            .transpose()
            .map_err(|source| Error::Channel { source })?;
        let capture = match self.parts.capture {
            Some(max) => {
                let (capture, write) = super::capture::Capture::new(max)
                    .map_err(|e| Error::Setup(StepError::from_io(Step::Stderr, &e, "(pipe)")))?;
                setup = setup.stderr(crate::child::Stdio::from(write));
                Some(capture)
            }
            None => None,
        };
        let (setup, supervisor, cgroup) =
            super::mechanism::prepare(self.parts.kill_mode, setup, self.parts.supervisor)?;
        // The set-up holds our copy of the notify-fd pipe's write end until the spawn
        // returns: then it is closed, or the end of file that says "the command gave up"
        // would never come.
        let mut child = supervisor.spawn_exec(setup, &cmd)?;
        child.observe = self.parts.observe.clone();
        child.cgroup = cgroup;
        child.capture = capture;
        Ok(Running {
            child: Box::new(child),
            watch,
            listener,
            program,
            ready: self.parts.ready,
            ready_timeout: self.parts.ready_timeout,
            stop: self.parts.stop,
            kill_mode: self.parts.kill_mode,
            follow_pidfile: self.parts.follow_pidfile,
            status: None,
            observe: self.parts.observe,
            on_stopping: None,
            watchdog: self
                .parts
                .watchdog
                .map(|(t, sig)| super::watchdog::Watchdog::new(t, sig)),
        })
    }
}

/// Keeps a readiness channel this process was given from the command: without one of its
/// own, the command must not report to this process's manager. Touching the environment
/// makes std copy all of it at spawn, so only a variable that is there is removed.
fn drop_inherited_channel(cmd: &mut Exec) {
    for var in [NOTIFY_SOCKET, NOTIFY_FD] {
        if std::env::var_os(var).is_some() {
            cmd.env_remove(var);
        }
    }
}
