//! [`Running`]: a started service, waited for in two phases: the start ([`wait_ready`]), then
//! the service's life ([`wait`]).
//!
//! The main process is the command, or the one it names: `MAINPID=` (checked to be in the
//! supervised tree) or, for a forking daemon, the PID file given to
//! [`Service::follow_pidfile`](super::Service::follow_pidfile). A followed main process is
//! pinned by a pidfd as soon as it is known; forwarded signals go to it, and the service lives
//! while it does, whether or not the command is still there. Its status is collected when it
//! exits as our child (the subreaper adopted it once its parent exited); when it exits as
//! someone else's child its status cannot be known, and counts as 0.
//!
//! [`wait_ready`]: Running::wait_ready
//! [`wait`]: Running::wait

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::error::Call;
use super::observe::{Event, Observe};
use super::retry::retry;
use super::service::{KillMode, Ready, Started};
use super::supervised::Followed;
use super::{Error, Supervised, poll, tree};
use crate::notify::{Listener, ReadyOutcome, ReadySource, ReadyWatch};
use crate::pidfd::PidFd;
use crate::stop::Schedule;

/// How often a forking daemon's PID file is looked at while the start waits for it.
const PIDFILE_POLL: Duration = Duration::from_millis(20);

/// A command started by [`Service::start`](super::Service::start): wait for its readiness, then for its exit.
#[derive(Debug)]
pub struct Running {
    /// On the heap: a `Running` moves from call to call while it is started and followed.
    pub(super) child: Box<Supervised>,
    /// The readiness wait, until the start is over.
    pub(super) watch: Option<ReadyWatch>,
    /// The sd_notify listener after readiness, read for the command's whole life.
    pub(super) listener: Option<Listener>,
    pub(super) program: String,
    pub(super) ready: Ready,
    pub(super) ready_timeout: Duration,
    pub(super) stop: Schedule,
    pub(super) kill_mode: KillMode,
    pub(super) follow_pidfile: Option<PathBuf>,
    pub(super) status: Option<String>,
    /// Told of each `STATUS=`; its descriptor is polled with the loop's.
    pub(super) observe: Observe,
    /// The watchdog's timer, if the service has one (armed by [`wait`](Running::wait)).
    pub(super) watchdog: Option<super::watchdog::Watchdog>,
    /// Told once when the service starts to stop ([`super::Lifecycle`] records it).
    pub(super) on_stopping: Option<super::lifecycle::Hook>,
}

impl Running {
    /// The command's process ID.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Whether the supervisor was told to stop (`TERM`, `INT`, `QUIT`) while this ran.
    pub fn stop_requested(&self) -> bool {
        self.child.stop_requested()
    }

    /// The last `STATUS=` the command sent, if any.
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// Whether [`wait_ready`](Running::wait_ready) returns at once: no readiness to wait for
    /// (no notify socket or probe, no PID file to follow).
    pub(crate) fn ready_at_once(&self) -> bool {
        self.watch.is_none() && self.follow_pidfile.is_none()
    }

    /// Waits until the start is over, forwarding signals meanwhile. Returns at once for
    /// [`Ready::Exec`], and when called again after a successful start.
    ///
    /// On a failed start ([`Error::Timeout`], [`Error::Reported`], [`Error::Closed`],
    /// [`Error::Exited`]) the command and its orphans have been stopped with the stop
    /// schedule and reaped.
    pub fn wait_ready(&mut self) -> Result<Started, Error> {
        if self.watch.is_none() {
            return match self.follow_pidfile.take() {
                Some(path) => self.wait_forking(&path),
                None => Ok(Started::default()),
            };
        }
        self.wait_watched()
    }

    /// [`wait_ready`](Running::wait_ready) with a readiness channel: the loop until it
    /// reports. Out of line, as the other paths a start takes only with an option (a channel,
    /// a PID file to follow, a listener, a watchdog): inlined, they would lie among the code
    /// every start runs and keep their pages resident (docs/benchmarks.md, "Start-up: the
    /// read-only data first…").
    #[inline(never)]
    fn wait_watched(&mut self) -> Result<Started, Error> {
        let Some(watch) = self.watch.as_mut() else {
            return Ok(Started::default());
        };
        let observe = &self.observe;
        let on_status = |n: &crate::notify::Notification| {
            if let Some(status) = &n.status {
                observe.event(&Event::Status(status));
            }
        };
        let outcome = loop {
            let fds: Vec<BorrowedFd<'_>> = [Some(watch.as_fd()), observe.fd()]
                .into_iter()
                .flatten()
                .collect();
            let deadline = watch.deadline();
            let readable = match retry(|| poll::wait(&self.child, &fds, deadline, true)) {
                Ok(readable) => readable,
                // Never abandon a live command: with poll(2) failing, the loop looks at
                // everything every few milliseconds instead (the deadline and the command's
                // exit are checked below).
                Err(_) => degraded(),
            };
            drop(fds);
            if readable.extra[1] {
                observe.readable();
            }
            if readable.signals {
                // A signal that cannot be forwarded has nowhere else to go.
                let _ = self.child.handle_signals();
            }
            if self.child.given_up.is_some() {
                self.watch = None;
                return Err(self.end_given_up());
            }
            match watch.poll(self.child.pidfd(), on_status) {
                Ok(Some(outcome)) => break outcome,
                Ok(None) => {}
                Err(source) => {
                    // The channel is broken: the start cannot be judged, so it failed, and a
                    // failed start leaves nothing running.
                    self.watch = None;
                    let failure = Error::Readiness { source };
                    return Err(self.stop_failed_start(failure));
                }
            }
        };
        self.status = watch.status().map(str::to_owned);
        let program = self.program.clone();
        let failure = match outcome {
            ReadyOutcome::Ready { main_pid, status } => {
                if let Some(pid) = main_pid {
                    self.follow(pid);
                }
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
                if let Some(gave_up) = self.stop_tree(true) {
                    return Err(gave_up);
                }
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
                let failure = Error::Exited {
                    program,
                    status,
                    last_status: self.status.clone(),
                };
                return Err(self.stop_failed_start(failure));
            }
        };
        self.watch = None;
        Err(self.stop_failed_start(failure))
    }

    /// Waits for the service to end, forwarding signals and reading sd_notify messages
    /// meanwhile, then (with [`KillMode::Tree`]) stops what is left of the tree with the stop
    /// schedule; returns the main process's status (module docs). Call
    /// [`wait_ready`](Running::wait_ready) first when the start waits for readiness.
    ///
    /// A system call that fails in the loop is retried: the service is never left running
    /// unsupervised. `Err` only when the command's own status cannot be collected.
    pub fn wait(&mut self) -> Result<ExitStatus, Error> {
        let mut command: Option<ExitStatus> = None;
        self.arm_watchdog();
        // Whether the command may have exited: at the first turn, then when its pidfd (or,
        // to be safe, the signalfd) was readable. A wake-up for output alone costs no
        // `waitpid(2)`.
        let mut may_have_exited = true;
        loop {
            if command.is_none() && may_have_exited {
                match self.child.try_wait() {
                    Ok(status) => command = status,
                    // ECHILD: someone else reaped it (SIGCHLD ignored in a library caller).
                    Err(source) if source.raw_os_error() == Some(libc::ECHILD) => {
                        return Err(Error::Loop {
                            call: Call::Wait,
                            source,
                        });
                    }
                    Err(source) => self.child.give_up(Call::Wait, source),
                }
                if command.is_some() {
                    // Orphans queued behind the command can be reaped now, the followed
                    // main process among them.
                    let _ = self.child.reap_orphans();
                }
            }
            let over = match &self.child.followed {
                None => command.is_some(),
                Some(f) => f.status.is_some() || f.pidfd.has_exited().unwrap_or(false),
            };
            if over {
                break;
            }
            if self.child.given_up.is_some() {
                // The loop cannot go on: the service is stopped, and the failure reported.
                return Err(self.end_given_up());
            }
            let mut extra: Vec<BorrowedFd<'_>> = Vec::with_capacity(3);
            if let Some(listener) = &self.listener {
                extra.push(listener.as_fd());
            }
            if let Some(f) = &self.child.followed {
                extra.push(f.pidfd.as_fd());
            }
            let observed = self.observe.fd().map(|fd| {
                extra.push(fd);
                extra.len() - 1
            });
            let deadline = self.watchdog.as_ref().and_then(|w| w.next_deadline());
            let exit = command.is_none();
            let readable = match retry(|| poll::wait(&self.child, &extra, deadline, exit)) {
                Ok(readable) => readable,
                // Supervision goes on without poll(2): see `degraded`.
                Err(_) => degraded(),
            };
            may_have_exited = readable.exited || readable.signals;
            drop(extra);
            if observed.is_some_and(|i| readable.extra[i]) {
                self.observe.readable();
            }
            self.check_watchdog();
            if readable.signals {
                let _ = self.child.handle_signals();
                self.note_stopping(false);
            }
            if readable.extra[0] && self.listener.is_some() {
                self.read_listener();
            }
        }
        let status = match self.child.followed.take() {
            Some(mut f) => {
                // Its exit may be a zombie of ours not yet reaped.
                self.child.followed = None;
                let mut raw = 0;
                if f.status.is_none() {
                    // SAFETY: waitpid(2) with WNOHANG on a PID pinned by our pidfd: if it is
                    // our child it is reaped, otherwise ECHILD.
                    let reaped =
                        unsafe { libc::waitpid(f.pid as libc::pid_t, &mut raw, libc::WNOHANG) };
                    if reaped == f.pid as libc::pid_t {
                        f.status = Some(ExitStatus::from_raw(raw));
                    }
                }
                f.status.unwrap_or(ExitStatus::from_raw(0))
            }
            None => command.expect("the loop ends with the command's status"),
        };
        if self.kill_mode == KillMode::Main {
            let _ = self.child.reap_orphans();
        } else if let Some(gave_up) = self.stop_tree(false) {
            return Err(gave_up);
        }
        Ok(status)
    }

    /// Stops what is left of the service with the stop schedule: the whole tree (`whole`,
    /// a failed start), or what the kill mode says (the process group with
    /// [`KillMode::Group`], the command with [`KillMode::Main`]). `Some(`[`Error::GaveUp`]`)`
    /// when a call was given up on along the way and part of the service outlived the whole
    /// schedule.
    fn stop_tree(&mut self, whole: bool) -> Option<Error> {
        let main_only = !whole && matches!(self.kill_mode, KillMode::Group | KillMode::Main);
        // The state says `stopping` once something is left to signal (a tree that ended
        // with its command is not stopped: no state file is written for it).
        let hook = &mut self.on_stopping;
        let mut signalling = || {
            if let Some(hook) = hook.take() {
                hook.call();
            }
        };
        let _ = if main_only {
            tree::stop_group(&mut self.child, &self.stop, &mut signalling)
        } else {
            tree::stop(&mut self.child, &self.stop, &mut signalling)
        };
        self.child.given_up.as_ref()?;
        let left = match (whole, self.kill_mode) {
            (false, KillMode::Main) => {
                let mut main = Vec::new();
                if !matches!(self.child.try_wait(), Ok(Some(_)))
                    && !self.child.pidfd.has_exited().unwrap_or(false)
                {
                    main.push(self.child.pid());
                }
                main
            }
            _ => tree::left(&mut self.child),
        };
        if left.is_empty() {
            return None;
        }
        let (call, source) = self.child.given_up.take()?;
        Some(Error::GaveUp {
            call,
            source,
            left,
            cgroup: self.cgroup().map(Path::to_path_buf),
        })
    }

    /// A failed start: the service is stopped; the failure is `failure`, or
    /// [`Error::GaveUp`] if the stop could not end it.
    fn stop_failed_start(&mut self, failure: Error) -> Error {
        self.stop_tree(true).unwrap_or(failure)
    }

    /// A call of the loop was given up on: the service is stopped with the stop schedule,
    /// and the error names the call ([`Error::Loop`]), or what is left ([`Error::GaveUp`]).
    fn end_given_up(&mut self) -> Error {
        self.note_stopping(true);
        if let Some(gave_up) = self.stop_tree(false) {
            return gave_up;
        }
        match self.child.given_up.take() {
            Some((call, source)) => Error::Loop { call, source },
            None => Error::Loop {
                call: Call::Poll,
                source: std::io::Error::from_raw_os_error(libc::EIO),
            },
        }
    }

    /// Reads the listener: barriers are answered, `STATUS=` kept, `MAINPID=` followed.
    fn read_listener(&mut self) {
        if self.listener.is_some() {
            self.read_listener_now();
        }
    }

    /// `read_listener` with a listener (out of line, as `wait_watched`).
    #[inline(never)]
    fn read_listener_now(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        let mut main = None;
        while let Ok(Some(n)) = listener.recv() {
            if let Some(w) = &mut self.watchdog {
                w.note(&n);
            }
            if let Some(status) = n.status {
                self.observe.event(&Event::Status(&status));
                self.status = Some(status);
            }
            if n.main_pid.is_some() {
                main = n.main_pid;
            }
        }
        if let Some(pid) = main {
            self.follow(pid);
        }
    }

    /// Makes `pid` the main process, if it is in the supervised tree (and not the command).
    /// Returns whether it is followed now.
    fn follow(&mut self, pid: u32) -> bool {
        if pid == self.child.pid() {
            self.child.followed = None;
            return true;
        }
        if self.child.followed.as_ref().is_some_and(|f| f.pid == pid) {
            return true;
        }
        // Pinned first, then checked: the PID cannot be recycled while the pidfd is open.
        let Ok(pidfd) = PidFd::open(pid) else {
            return false;
        };
        if !in_tree(pid) || pidfd.has_exited().unwrap_or(true) {
            return false;
        }
        self.child.followed = Some(Followed {
            pid,
            pidfd,
            status: None,
        });
        true
    }

    /// The start of a forking daemon: the command must exit 0, then its PID file must name a
    /// process of the tree, before the deadline.
    #[inline(never)]
    fn wait_forking(&mut self, path: &Path) -> Result<Started, Error> {
        let deadline = Instant::now().checked_add(self.ready_timeout);
        let mut command = None;
        loop {
            if command.is_none()
                && let Ok(Some(status)) = self.child.try_wait()
            {
                if !status.success() {
                    let failure = Error::Exited {
                        program: self.program.clone(),
                        status,
                        last_status: None,
                    };
                    return Err(self.stop_failed_start(failure));
                }
                command = Some(status);
                let _ = self.child.reap_orphans();
            }
            if command.is_some()
                && let Ok(pid) = crate::pidfile::read(path)
                && self.follow(pid)
            {
                return Ok(Started {
                    main_pid: Some(pid),
                    status: None,
                });
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let begun = Instant::now();
                if let Some(gave_up) = self.stop_tree(true) {
                    return Err(gave_up);
                }
                return Err(Error::Timeout {
                    program: self.program.clone(),
                    timeout: self.ready_timeout,
                    status: None,
                    stopped_in: begun.elapsed(),
                });
            }
            // Until the command exits, its pidfd wakes us; after, the file is looked at.
            let until = match command {
                None => deadline,
                Some(_) => Some(Instant::now() + PIDFILE_POLL),
            };
            let until = match (until, deadline) {
                (Some(u), Some(d)) => Some(u.min(d)),
                (u, d) => u.or(d),
            };
            let observed: Vec<BorrowedFd<'_>> = self.observe.fd().into_iter().collect();
            if let Ok(readable) = poll::wait(&self.child, &observed, until, command.is_none()) {
                drop(observed);
                if readable.extra[0] {
                    self.observe.readable();
                }
                if readable.signals {
                    let _ = self.child.handle_signals();
                }
            }
        }
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

/// What the loop acts on when `poll(2)` failed at every try ([`super::retry`]): after a
/// pause of [`retry::PAUSE`](super::retry::PAUSE), the signalfd is read (it does not block),
/// and the command's exit is checked as at every turn. The loop never gives up on a live
/// command for a failing `poll(2)`.
fn degraded() -> poll::Readable {
    std::thread::sleep(super::retry::PAUSE);
    poll::Readable {
        signals: true,
        exited: true,
        ..poll::Readable::default()
    }
}

/// Whether `pid` descends from this process (the supervisor), following `/proc/PID/stat`.
fn in_tree(mut pid: u32) -> bool {
    let me = std::process::id();
    for _ in 0..4096 {
        if pid == me {
            return true;
        }
        if pid <= 1 {
            return false;
        }
        match crate::sys::proc_stat::read(pid as i32) {
            Ok(stat) => pid = stat.ppid as u32,
            Err(_) => return false,
        }
    }
    false
}
