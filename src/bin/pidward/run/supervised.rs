//! The supervised modes of `pidward run`: in the foreground, or from a detached process.
//!
//! The loop is [`Service`]'s; this file says where its outcome goes. A detached supervisor
//! reports the outcome of the start to the launcher over the status pipe; a foreground one
//! relays readiness upward when it runs under a `NOTIFY_SOCKET` of its own.

use std::os::fd::AsFd;

use pidward::child::{Setup, Stdio};
use pidward::daemon::{Daemon, Started};
use pidward::notify::Notifier;
use pidward::pidfile::PidFile;
use pidward::supervise::{self, Lifecycle, Ready, Service, StateFile, Supervisor};

use super::{Failure, Plan, ReadyMode, logging};

/// Supervise in the foreground.
pub fn foreground(plan: Plan) -> Result<u8, Failure> {
    let pid_file = match &plan.args.pidfile {
        Some(path) => Some(plan.acquire(path, false)?),
        None => None,
    };
    let child_pid_file = match &plan.args.child_pidfile {
        Some(path) => Some(plan.acquire(path, true)?),
        None => None,
    };
    // Built anew for each run (a restart gets the same set-up).
    let setup = || {
        let mut setup = plan.command_setup();
        for relayed in [false, true] {
            setup = with_stdio(setup, plan.output_stdio(relayed));
        }
        setup
    };
    let mut abandoned = false;
    let result = supervise(
        &plan,
        &setup,
        child_pid_file,
        &mut Reporter::Foreground,
        &mut abandoned,
    )
    .map_err(|f| plan.with_stderr_tail(f));
    if let Some(pf) = pid_file {
        keep_or_release(pf, abandoned);
    }
    result
}

/// Detach, then supervise from the detached process.
pub fn detached(plan: Plan) -> Result<u8, Failure> {
    let pid_file = match &plan.args.pidfile {
        Some(path) => Some(plan.acquire(path, true)?),
        None => None,
    };
    let child_pid_file = match &plan.args.child_pidfile {
        Some(path) => Some(plan.acquire(path, true)?),
        None => None,
    };
    // The detached supervisor's own streams go where the command's should: the command
    // inherits them.
    let mut own = with_stdio(Setup::new(), plan.output_stdio(false));
    if let Some(mask) = plan.args.umask {
        own = own.umask(mask);
    }
    if let Some(pf) = &child_pid_file {
        own = own.keep_fd(pf.as_fd());
    }
    let log = plan.life.log();
    for fd in log.fds() {
        own = own.keep_fd(fd);
    }
    drop(log);
    let relay_fds = plan.life.get_relay().map(|r| r.fds()).unwrap_or_default();
    for &fd in &relay_fds {
        // SAFETY: the relay, which the plan holds, keeps these open past the start.
        own = own.keep_fd(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) });
    }
    let mut daemon = Daemon::new(own).report_ready(true);
    if let Some(pf) = pid_file {
        daemon = daemon.pid_file(pf);
    }
    // The launcher exits inside start() on success, or gets the failure here.
    let mut detached = daemon.start().map_err(|e| plan.launcher_failure(e))?;
    // Paths in the set-up are absolute (made so against the caller's directory).
    let mut abandoned = false;
    let result = supervise(
        &plan,
        &|| with_stdio(plan.command_setup(), plan.output_stdio(true)),
        child_pid_file,
        &mut Reporter::Detached(&mut detached),
        &mut abandoned,
    );
    if abandoned && let Some(pf) = detached.take_pid_file() {
        pf.disown();
    }
    // Dropping `detached` removes the PID file (unless it was kept above).
    result
}

/// `setup` with stdout and stderr redirected where given.
fn with_stdio(mut setup: Setup, (out, err): (Option<Stdio>, Option<Stdio>)) -> Setup {
    if let Some(out) = out {
        setup = setup.stdout(out);
    }
    if let Some(err) = err {
        setup = setup.stderr(err);
    }
    setup
}

/// How much of a detached command's stderr is kept until it is ready.
const STDERR_TAIL: usize = 4096;

/// Where the outcome of the start goes.
enum Reporter<'a> {
    /// Nobody waits: failures become pidward's own exit.
    Foreground,
    /// A launcher waits on the status pipe.
    Detached(&'a mut Started),
}

impl Reporter<'_> {
    fn fail(&mut self, e: supervise::Error, stderr: Option<String>) -> Failure {
        let mut failure = Failure::from(&e);
        if let Reporter::Detached(d) = self
            && d.is_reporting()
        {
            let _ = d.fail(&e.step_error().with_output(stderr));
            // The launcher prints it; printing it here too would put it in the
            // command's stderr file, and into the tail the launcher quotes.
            failure.message = None;
        }
        failure
    }

    fn started(&mut self) {
        if let Reporter::Detached(d) = self
            && let Err(e) = d.started()
        {
            unreported(&e);
        }
    }

    fn ready(&mut self) {
        if let Reporter::Detached(d) = self
            && let Err(e) = d.ready()
        {
            unreported(&e);
        }
    }
}

/// The launcher cannot be told that the start succeeded (it is gone): a start nobody was told
/// of does not go on. The supervisor stops the service as if it had been sent `SIGTERM`
/// (the signal waits, blocked, for the supervision loop), then removes its PID file.
fn unreported(e: &std::io::Error) {
    eprintln!("pidward run: cannot report the start to the launcher: {e}; stopping");
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::TERM);
}

/// Spawns the command under a [`Service`] and runs it under the restart policy until it ends.
fn supervise(
    plan: &Plan,
    make_setup: &dyn Fn() -> Setup,
    mut child_pid_file: Option<PidFile>,
    report: &mut Reporter,
    abandoned: &mut bool,
) -> Result<u8, Failure> {
    // Captured before the command gets a NOTIFY_SOCKET of its own.
    let upstream = match Notifier::from_env() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("pidward run: warning: {e}; readiness will not be relayed");
            None
        }
    };
    let mode = plan.args.ready.clone().unwrap_or(ReadyMode::Exec);
    // Every signal the command can be sent, through pidward. The lifecycle keeps them
    // blocked until pidward exits: one that arrives after the command has exited must not
    // kill pidward before it has removed its PID files.
    let mut supervisor = Supervisor::new()
        .forward(&supervise::forwardable())
        .subreaper(true)
        .signal_group(plan.args.signal_group)
        .parent_death_signal(plan.args.parent_death_signal.0);
    for rule in &plan.args.rewrite_signal {
        supervisor = supervisor.rewrite(rule.0, rule.1);
    }
    let mut service = Service::new()
        .supervisor(supervisor)
        .stop_schedule(plan.args.stop_schedule.clone())
        .kill_mode(plan.args.kill_mode)
        .ready(match mode {
            ReadyMode::Exec | ReadyMode::Probe(_) => Ready::Exec,
            ReadyMode::Notify => Ready::Notify,
            ReadyMode::Fd(n) => Ready::Fd(n),
        })
        .ready_timeout(plan.args.ready_timeout);
    if let ReadyMode::Probe(check) = &mode {
        service = service.ready_probe(check.clone(), plan.args.ready_interval);
    }
    if let Some(path) = &plan.args.follow_pidfile {
        service = service.follow_pidfile(plan.absolute(path));
    }
    service = service.observer(plan.life.clone());
    plan.life.start(
        &logging::command_line(&plan.args),
        plan.args.restart.0.name(),
    );
    // Detached with nowhere to write it, the command's stderr is kept until it is ready, for
    // the launcher to quote if the start fails.
    if matches!(report, Reporter::Detached(_)) && plan.output_dests().1.is_none() {
        service = service.capture_stderr(STDERR_TAIL);
    }
    if let Some(timeout) = plan.args.watchdog {
        service = service.watchdog(timeout, plan.args.watchdog_signal);
    }
    let mut lifecycle = Lifecycle::new(service, plan.restart()).first_start_final(plan.args.daemon);
    if let Some(path) = &plan.args.pidfile {
        let file = StateFile::beside(&plan.absolute(path));
        plan.life.report_drops(file.clone());
        lifecycle = lifecycle.state_file(file);
    }
    let mut events = Events {
        plan,
        mode,
        report,
        upstream,
        child_pid_file: &mut child_pid_file,
    };
    let result = lifecycle.run(|| (plan.command(), make_setup()), &mut events);
    // What the last run wrote is in its files before its failure quotes them.
    plan.life.flush();
    *abandoned = matches!(result, Err(supervise::Error::GaveUp { .. }));
    let result = match result {
        Ok(ended) => Ok(ended.code),
        Err(e) => Err(events.report.fail(e, lifecycle.stderr_tail())),
    };
    if let Some(pf) = child_pid_file {
        keep_or_release(pf, *abandoned);
    }
    result
}

/// Removes a PID file, unless the supervisor gave up with part of the service still running
/// ([`supervise::Error::GaveUp`]): then the file (and its state file) stay, for `status` to
/// report what is left and `stop` to end it.
fn keep_or_release(pf: PidFile, abandoned: bool) {
    if abandoned {
        pf.disown();
    } else {
        release(pf);
    }
}

/// What the lifecycle tells: PIDs go to `--child-pidfile`, the first readiness to the
/// launcher (and upstream), later failed starts to standard error.
struct Events<'a, 'r> {
    plan: &'a Plan,
    mode: ReadyMode,
    report: &'a mut Reporter<'r>,
    upstream: Option<Notifier>,
    child_pid_file: &'a mut Option<PidFile>,
}

impl supervise::Events for Events<'_, '_> {
    fn spawned(&mut self, pid: u32) {
        self.plan.life.spawned(pid);
        if let Some(pf) = self.child_pid_file {
            write_pid(pf, pid);
        }
    }

    fn ready(&mut self, started: &supervise::Started, first: bool) {
        self.plan
            .life
            .ready(started.status.as_deref(), started.main_pid);
        if let (Some(pid), Some(pf)) = (started.main_pid, &mut *self.child_pid_file) {
            write_pid(pf, pid);
        }
        if !first {
            return;
        }
        match self.mode {
            ReadyMode::Exec if self.plan.args.follow_pidfile.is_none() => self.report.started(),
            _ => self.report.ready(),
        }
        if let Some(up) = &self.upstream
            && let Err(e) = up.relay_ready(std::process::id(), started.status.as_deref())
        {
            eprintln!("pidward run: warning: relaying readiness: {e}");
        }
    }

    fn start_failed(&mut self, error: &supervise::Error) {
        eprintln!("pidward run: {error}");
    }

    fn ended(&mut self, exit: &supervise::Exit, next: supervise::Next) {
        self.plan.life.flush();
        self.plan.life.ended(exit, next);
    }
}

/// Writes a PID into the command's PID file, warning (not failing) when that is impossible.
fn write_pid(pf: &mut PidFile, pid: u32) {
    if let Err(e) = pf.write_pid(pid) {
        eprintln!("pidward run: warning: {e}");
    }
}

/// Removes a PID file, warning (not failing) when that is impossible.
fn release(pf: PidFile) {
    if let Err(e) = pf.release() {
        eprintln!("pidward run: warning: {e}");
    }
}
