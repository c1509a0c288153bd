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

use std::os::fd::AsFd;
use std::os::unix::io::RawFd;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::error::Call;
use super::{Error, Supervised, Supervisor, poll, tree};
use crate::child::{Exec, Setup};
use crate::notify::{Listener, NOTIFY_FD, NOTIFY_SOCKET, ReadyOutcome, ReadySource, ReadyWatch};
use crate::stop::Schedule;

/// How long a failed system call of the loop waits before it is tried again.
const RETRY: Duration = Duration::from_millis(10);

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
}

/// What ends with the command when its main process exits (or after a failed start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KillMode {
    /// The whole tree: every process re-parented to the supervisor (a child subreaper) is
    /// stopped with the stop schedule before the supervisor reports the exit. A service is
    /// over when nothing of it is left.
    #[default]
    Tree,
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
/// use std::time::{Duration, Instant};
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
    supervisor: Supervisor,
    ready: Ready,
    ready_timeout: Duration,
    stop: Schedule,
    kill_mode: KillMode,
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
            supervisor: Supervisor::new().subreaper(true),
            ready: Ready::Exec,
            ready_timeout: Duration::from_secs(60),
            stop: Schedule::parse("5", crate::Signal::TERM).expect("a valid schedule"),
            kill_mode: KillMode::Tree,
        }
    }

    /// The supervisor to spawn with (forwarded signals, subreaper, signal hygiene).
    pub fn supervisor(mut self, supervisor: Supervisor) -> Service {
        self.supervisor = supervisor;
        self
    }

    /// When the start counts as done (default: [`Ready::Exec`]).
    pub fn ready(mut self, ready: Ready) -> Service {
        self.ready = ready;
        self
    }

    /// How long to wait for readiness (default: 60 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Service {
        self.ready_timeout = timeout;
        self
    }

    /// How a failed start is stopped, the command and its orphans together, and how the
    /// orphans left by a command that exited are (default: `TERM/5/KILL/5`).
    pub fn stop_schedule(mut self, schedule: Schedule) -> Service {
        self.stop = schedule;
        self
    }

    /// What ends with the main process (default: [`KillMode::Tree`]).
    pub fn kill_mode(mut self, mode: KillMode) -> Service {
        self.kill_mode = mode;
        self
    }

    /// Prepares `setup` and the readiness channel, spawns `cmd` under the supervisor with
    /// them, and returns the running command. Nothing is spawned when a step fails before
    /// the fork; a step that fails in the child comes back as [`Error::Setup`].
    ///
    /// The command's environment gets the readiness variables (`NOTIFY_SOCKET` or
    /// `NOTIFY_FD`), and loses any it inherited: a child must never see its supervisor's own
    /// supervisor.
    pub fn start(self, mut cmd: Exec, mut setup: Setup) -> Result<Running, Error> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        let source = match self.ready {
            Ready::Exec => {
                // Touching the environment makes std copy all of it at spawn: only if needed.
                for var in [NOTIFY_SOCKET, NOTIFY_FD] {
                    if std::env::var_os(var).is_some() {
                        cmd.env_remove(var);
                    }
                }
                None
            }
            Ready::Notify => {
                let listener =
                    Listener::bind_private().map_err(|source| Error::Channel { source })?;
                cmd.env(NOTIFY_SOCKET, listener.address())
                    .env_remove(NOTIFY_FD);
                Some(ReadySource::Notify(listener))
            }
            Ready::Fd(n) => {
                let (source, write) =
                    ReadySource::pipe().map_err(|source| Error::Channel { source })?;
                setup = setup.fd(n, write);
                cmd.env(NOTIFY_FD, n.to_string()).env_remove(NOTIFY_SOCKET);
                Some(source)
            }
        };
        let watch = source
            .map(|s| ReadyWatch::new(s, self.ready_timeout))
            .transpose()
            .map_err(|source| Error::Channel { source })?;
        // The set-up holds our copy of the notify-fd pipe's write end until the spawn
        // returns: then it is closed, or the end of file that says "the command gave up"
        // would never come.
        let child = self.supervisor.spawn_exec(setup, &cmd)?;
        Ok(Running {
            child,
            watch,
            listener: None,
            program,
            ready: self.ready,
            ready_timeout: self.ready_timeout,
            stop: self.stop,
            kill_mode: self.kill_mode,
            status: None,
        })
    }
}

/// A command started by [`Service::start`]: wait for its readiness, then for its exit.
#[derive(Debug)]
pub struct Running {
    child: Supervised,
    /// The readiness wait, until the start is over.
    watch: Option<ReadyWatch>,
    /// The sd_notify listener after readiness, read for the command's whole life.
    listener: Option<Listener>,
    program: String,
    ready: Ready,
    ready_timeout: Duration,
    stop: Schedule,
    kill_mode: KillMode,
    status: Option<String>,
}

impl Running {
    /// The command's process ID.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The last `STATUS=` the command sent, if any.
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// Waits until the start is over, forwarding signals meanwhile. Returns at once for
    /// [`Ready::Exec`], and when called again after a successful start.
    ///
    /// On a failed start ([`Error::Timeout`], [`Error::Reported`], [`Error::Closed`],
    /// [`Error::Exited`]) the command and its orphans have been stopped with the stop
    /// schedule and reaped.
    pub fn wait_ready(&mut self) -> Result<Started, Error> {
        let Some(watch) = self.watch.as_mut() else {
            return Ok(Started::default());
        };
        let outcome = loop {
            let Ok(readable) = poll::wait(&self.child, Some(watch.as_fd()), watch.deadline(), true)
            else {
                // Never abandon a live command: a failing poll(2) (ENOMEM) is retried; the
                // deadline and the command's exit are still checked below.
                std::thread::sleep(RETRY);
                if let Some(outcome) = watch.poll(self.child.pidfd(), |_| {}).ok().flatten() {
                    break outcome;
                }
                continue;
            };
            if readable.signals {
                // A signal that cannot be forwarded has nowhere else to go.
                let _ = self.child.handle_signals();
            }
            match watch.poll(self.child.pidfd(), |_| {}) {
                Ok(Some(outcome)) => break outcome,
                Ok(None) => {}
                Err(source) => {
                    // The channel is broken: the start cannot be judged, so it failed, and a
                    // failed start leaves nothing running.
                    self.watch = None;
                    let _ = tree::stop(&mut self.child, &self.stop);
                    return Err(Error::Readiness { source });
                }
            }
        };
        self.status = watch.status().map(str::to_owned);
        let program = self.program.clone();
        let failure = match outcome {
            ReadyOutcome::Ready { main_pid, status } => {
                if let Some(ReadySource::Notify(listener)) =
                    self.watch.take().map(|w| w.into_source())
                {
                    self.listener = Some(listener);
                }
                return Ok(Started { main_pid, status });
            }
            ReadyOutcome::Failed { errno, status } => Error::Reported {
                program,
                errno,
                status,
            },
            ReadyOutcome::Timeout => {
                let begun = Instant::now();
                self.watch = None;
                let _ = tree::stop(&mut self.child, &self.stop);
                return Err(Error::Timeout {
                    program,
                    timeout: self.ready_timeout,
                    status: self.status.clone(),
                    stopped_in: begun.elapsed(),
                });
            }
            ReadyOutcome::Closed => Error::Closed {
                program,
                fd: match self.ready {
                    Ready::Fd(n) => n,
                    _ => -1,
                },
            },
            ReadyOutcome::ChildExited => {
                let status = self.reap()?;
                self.watch = None;
                let _ = tree::stop(&mut self.child, &self.stop);
                return Err(Error::Exited {
                    program,
                    status,
                    last_status: self.status.clone(),
                });
            }
        };
        self.watch = None;
        let _ = tree::stop(&mut self.child, &self.stop);
        Err(failure)
    }

    /// Waits for the command to exit, forwarding signals and reading sd_notify messages
    /// meanwhile, then (with [`KillMode::Tree`]) stops what is left of the tree with the stop
    /// schedule; returns the command's status. Call [`wait_ready`](Running::wait_ready)
    /// first when the start waits for readiness.
    ///
    /// A system call that fails in the loop is retried: the command is never left running
    /// unsupervised. `Err` only when the command's own status cannot be collected.
    pub fn wait(mut self) -> Result<ExitStatus, Error> {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                // ECHILD: someone else reaped it (SIGCHLD ignored in a library caller).
                Err(source) if source.raw_os_error() == Some(libc::ECHILD) => {
                    return Err(Error::Loop {
                        call: Call::Wait,
                        source,
                    });
                }
                Err(_) => {
                    std::thread::sleep(RETRY);
                    continue;
                }
            }
            let listener = self.listener.as_ref().map(|l| l.as_fd());
            let Ok(readable) = poll::wait(&self.child, listener, None, true) else {
                std::thread::sleep(RETRY);
                continue;
            };
            if readable.signals {
                let _ = self.child.handle_signals();
            }
            if readable.extra
                && let Some(listener) = &self.listener
            {
                // Read, so that barriers are answered; only STATUS= is kept.
                while let Ok(Some(n)) = listener.recv() {
                    if let Some(status) = n.status {
                        self.status = Some(status);
                    }
                }
            }
        };
        match self.kill_mode {
            KillMode::Tree => {
                let _ = tree::stop(&mut self.child, &self.stop);
            }
            KillMode::Main => {
                let _ = self.child.reap_orphans();
            }
        }
        Ok(status)
    }

    /// Reaps the command, which has exited (its pidfd said so).
    fn reap(&mut self) -> Result<ExitStatus, Error> {
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                // The pidfd reports the exit as the zombie appears: at once, or a moment on.
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Err(source) => {
                    return Err(Error::Loop {
                        call: Call::Wait,
                        source,
                    });
                }
            }
        }
    }
}
