//! The supervised modes of `pidward run`: in the foreground, or from a detached process.
//!
//! One loop, one thread: `poll(2)` on the signalfd of [`Supervised`] (forwarded signals and
//! `SIGCHLD`), on the command's pidfd (readable once it exits), and, while the start is not
//! finished, on the readiness channel (the sd_notify [`Listener`] or the notify-fd pipe).
//! The sd_notify listener stays in the loop for the command's whole life, so that later
//! messages (and the barrier of `pidward notify`) are answered.
//!
//! The start ends, in this order of precedence, when the command declares readiness (or at
//! once, with `--ready exec`), when it reports a failure (`ERRNO=`), when it exits (its
//! status is passed on), or at the deadline (extended by `EXTEND_TIMEOUT_USEC=`). A failed
//! start stops the command (`TERM`, then `KILL` after 10 seconds) before reporting. A detached
//! supervisor reports the outcome to the launcher over the status pipe; a foreground one
//! relays readiness upward when it runs under a `NOTIFY_SOCKET` of its own.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use pidward::child::{Error as StepError, Setup, Step};
use pidward::daemon::{Daemon, Started};
use pidward::notify::{Listener, NOTIFY_FD, NOTIFY_SOCKET, Notifier};
use pidward::pidfile::PidFile;
use pidward::supervise::{Supervised, Supervisor, exit_code};
use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::{FORWARD, Failure, Plan, ReadyMode};

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
    let (out, err) = plan.output_stdio();
    let mut setup = plan.command_setup();
    if let Some(out) = out {
        setup = setup.stdout(out);
    }
    if let Some(err) = err {
        setup = setup.stderr(err);
    }
    let result = supervise(&plan, setup, child_pid_file, &mut Reporter::Foreground)
        .map_err(|f| plan.with_stderr_tail(f));
    if let Some(pf) = pid_file {
        release(pf);
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
    // Built here, while relative paths still mean what they meant to the caller.
    let setup = plan.command_setup();
    // The detached supervisor's own streams go where the command's should: the command
    // inherits them.
    let mut own = Setup::new();
    let (out, err) = plan.output_stdio();
    if let Some(out) = out {
        own = own.stdout(out);
    }
    if let Some(err) = err {
        own = own.stderr(err);
    }
    if let Some(mask) = plan.args.umask {
        own = own.umask(mask);
    }
    if let Some(pf) = &child_pid_file {
        own = own.keep_fd(pf.as_fd());
    }
    let mut daemon = Daemon::new(own).report_ready(true);
    if let Some(pf) = pid_file {
        daemon = daemon.pid_file(pf);
    }
    // The launcher exits inside start() on success, or gets the failure here.
    let mut detached = daemon.start().map_err(|e| plan.launcher_failure(e))?;
    supervise(
        &plan,
        setup,
        child_pid_file,
        &mut Reporter::Detached(&mut detached),
    )
    // Dropping `detached` removes the PID file.
}

/// Where the outcome of the start goes.
enum Reporter<'a> {
    /// Nobody waits: failures become pidward's own exit.
    Foreground,
    /// A launcher waits on the status pipe.
    Detached(&'a mut Started),
}

impl Reporter<'_> {
    fn fail(&mut self, e: StepError) -> Failure {
        let mut failure = Failure::from(e.clone());
        if let Reporter::Detached(d) = self
            && d.is_reporting()
        {
            let _ = d.fail(&e);
            // The launcher prints it; printing it here too would put it in the
            // command's stderr file, and into the tail the launcher quotes.
            failure.message = None;
        }
        failure
    }

    fn started(&mut self) {
        if let Reporter::Detached(d) = self {
            let _ = d.started();
        }
    }

    fn ready(&mut self) {
        if let Reporter::Detached(d) = self {
            let _ = d.ready();
        }
    }
}

/// The readiness channel of a start that waits for one.
enum Channel {
    Notify(Listener),
    Fd(OwnedFd, i32),
}

impl Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Channel::Notify(l) => l.as_fd(),
            Channel::Fd(fd, _) => fd.as_fd(),
        }
    }
}

/// What the readiness channel said.
enum Event {
    Ready {
        main_pid: Option<u32>,
        status: Option<String>,
    },
    Failed {
        errno: i32,
        status: Option<String>,
    },
    Extend(Duration),
    Closed,
}

/// Spawns the command under a supervisor and runs the loop until it exits.
fn supervise(
    plan: &Plan,
    mut setup: Setup,
    mut child_pid_file: Option<PidFile>,
    report: &mut Reporter,
) -> Result<u8, Failure> {
    let upstream = match Notifier::from_env() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("pidward run: warning: {e}; readiness will not be relayed");
            None
        }
    };
    let mut cmd = plan.command();
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mode = plan.args.ready.unwrap_or(ReadyMode::Exec);
    let mut channel = match mode {
        ReadyMode::Exec => {
            // Touching the environment makes std copy all of it at spawn: only when needed.
            for var in [NOTIFY_SOCKET, NOTIFY_FD] {
                if std::env::var_os(var).is_some() {
                    cmd.env_remove(var);
                }
            }
            None
        }
        ReadyMode::Notify => {
            let listener = Listener::bind_private()
                .map_err(|e| report.fail(StepError::from_io(Step::Ready, &e, "notify socket")))?;
            cmd.env(NOTIFY_SOCKET, listener.address())
                .env_remove(NOTIFY_FD);
            Some(Channel::Notify(listener))
        }
        ReadyMode::Fd(n) => {
            let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                .map_err(|e| report.fail(StepError::from_io(Step::Ready, &e.into(), "pipe")))?;
            let flags = rustix::fs::fcntl_getfl(&read).map_err(io::Error::from);
            flags
                .and_then(|f| {
                    rustix::fs::fcntl_setfl(&read, f | rustix::fs::OFlags::NONBLOCK)
                        .map_err(io::Error::from)
                })
                .map_err(|e| report.fail(StepError::from_io(Step::Ready, &e, "pipe")))?;
            setup = setup.fd(n, write);
            cmd.env(NOTIFY_FD, n.to_string()).env_remove(NOTIFY_SOCKET);
            Some(Channel::Fd(read, n))
        }
    };

    let prepared = setup.prepare().map_err(|e| report.fail(e))?;
    let check = prepared
        .install(&mut cmd)
        .map_err(|e| report.fail(StepError::from_io(Step::Exec, &e, program.clone())))?;
    let spawned = Supervisor::new()
        .forward(&FORWARD)
        .subreaper(true)
        .spawn(&mut cmd);
    let mut child = check.check(spawned).map_err(|e| report.fail(e))?;
    // The command holds the set-up, including our copy of the notify-fd pipe's write end:
    // drop it, or the end of file that says "the command gave up" would never come.
    drop(cmd);
    if let Some(pf) = &mut child_pid_file
        && let Err(e) = pf.write_pid(child.pid())
    {
        eprintln!(
            "pidward run: warning: {}: cannot write PID: {e}",
            pf.path().display()
        );
    }

    let me = std::process::id();
    let relay = |status: Option<&str>| {
        if let Some(up) = &upstream
            && let Err(e) = up.relay_ready(me, status)
        {
            eprintln!("pidward run: warning: relaying readiness: {e}");
        }
    };
    if channel.is_none() {
        report.started();
        relay(None);
    }

    let mut waiting = channel.is_some();
    let mut deadline = Instant::now().checked_add(plan.args.ready_timeout);
    let result = loop {
        let timeout = if waiting {
            match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        let e = StepError::new(
                            Step::Timeout,
                            0,
                            format!(
                                "({program} did not declare readiness within {:?})",
                                plan.args.ready_timeout
                            ),
                        );
                        break Err(start_failed(&mut child, report, e));
                    }
                    Some(left.min(Duration::from_secs(3600)))
                }
                None => None,
            }
        } else {
            None
        };
        let (sig_ready, child_ready, chan_ready) = match wait(&child, channel.as_ref(), timeout) {
            Ok(r) => r,
            Err(e) => break Err(Failure::setup(format!("poll: {e}"))),
        };
        if sig_ready && let Err(e) = child.handle_signals() {
            eprintln!("pidward run: warning: forwarding signals: {e}");
        }
        // The channel is read before the exit is acted on: a READY=1 sent just before
        // exiting still counts.
        if chan_ready || (child_ready && channel.is_some()) {
            let events = match channel.as_ref().map(drain) {
                Some(Ok(events)) => events,
                Some(Err(e)) => {
                    eprintln!("pidward run: warning: reading readiness: {e}");
                    Vec::new()
                }
                None => Vec::new(),
            };
            let mut failure = None;
            for event in events {
                match event {
                    Event::Ready { main_pid, status } if waiting => {
                        waiting = false;
                        if let (Some(pid), Some(pf)) = (main_pid, &mut child_pid_file) {
                            let _ = pf.write_pid(pid);
                        }
                        report.ready();
                        relay(status.as_deref());
                        // A pipe has said all it will say.
                        if matches!(channel, Some(Channel::Fd(..))) {
                            channel = None;
                        }
                    }
                    Event::Failed { errno, status } if waiting => {
                        let detail = match status {
                            Some(s) => format!("({program} reported a failure; status: {s})"),
                            None => format!("({program} reported a failure)"),
                        };
                        failure = Some(StepError::new(Step::Ready, errno, detail));
                        break;
                    }
                    Event::Extend(by) if waiting => {
                        if let (Some(d), Some(ext)) = (deadline, Instant::now().checked_add(by)) {
                            deadline = Some(d.max(ext));
                        }
                    }
                    Event::Closed => {
                        if waiting {
                            let n = match &channel {
                                Some(Channel::Fd(_, n)) => *n,
                                _ => -1,
                            };
                            failure = Some(StepError::new(
                                Step::Ready,
                                0,
                                format!(
                                    "({program} closed descriptor {n} without declaring readiness)"
                                ),
                            ));
                        }
                        channel = None;
                        break;
                    }
                    _ => {}
                }
            }
            if let Some(e) = failure
                && !child_ready
            {
                break Err(start_failed(&mut child, report, e));
            }
        }
        if child_ready {
            match child.try_wait() {
                Ok(Some(status)) => {
                    if waiting {
                        let e =
                            StepError::new(Step::Exited, i32::from(exit_code(status)), &*program);
                        stop_adopted();
                        break Err(report.fail(e));
                    }
                    break Ok(exit_code(status));
                }
                Ok(None) => {}
                Err(e) => break Err(Failure::setup(format!("waitpid: {e}"))),
            }
        }
    };
    drop(child);
    if let Some(pf) = child_pid_file {
        release(pf);
    }
    result
}

/// Polls the signalfd, the pidfd and the channel; returns which are readable.
fn wait(
    child: &Supervised,
    channel: Option<&Channel>,
    timeout: Option<Duration>,
) -> io::Result<(bool, bool, bool)> {
    let timespec = timeout
        .map(Timespec::try_from)
        .transpose()
        .map_err(|_| io::Error::other("timeout out of range"))?;
    let (signals, pidfd) = (child.signal_fd(), child.pidfd());
    loop {
        let mut fds = vec![
            PollFd::new(&signals, PollFlags::IN),
            PollFd::new(&pidfd, PollFlags::IN),
        ];
        let chan = channel.map(Channel::as_fd);
        if let Some(fd) = &chan {
            fds.push(PollFd::new(fd, PollFlags::IN));
        }
        match poll(&mut fds, timespec.as_ref()) {
            Ok(_) => {
                let ready = |i: usize| fds.get(i).is_some_and(|f| !f.revents().is_empty());
                return Ok((ready(0), ready(1), ready(2)));
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reads what the channel has to say, without blocking.
fn drain(channel: &Channel) -> io::Result<Vec<Event>> {
    let mut events = Vec::new();
    match channel {
        Channel::Notify(listener) => {
            while let Some(n) = listener.recv()? {
                if let Some(by) = n.extend_timeout {
                    events.push(Event::Extend(by));
                }
                if n.ready {
                    events.push(Event::Ready {
                        main_pid: n.main_pid,
                        status: n.status.clone(),
                    });
                } else if let Some(errno) = n.errno.filter(|&e| e > 0) {
                    events.push(Event::Failed {
                        errno,
                        status: n.status.clone(),
                    });
                }
            }
        }
        Channel::Fd(fd, _) => {
            let mut buf = [0u8; 256];
            for _ in 0..64 {
                match rustix::io::read(fd, &mut buf) {
                    Ok(0) => {
                        events.push(Event::Closed);
                        break;
                    }
                    Ok(n) if buf[..n].contains(&b'\n') => {
                        events.push(Event::Ready {
                            main_pid: None,
                            status: None,
                        });
                        break;
                    }
                    Ok(_) | Err(rustix::io::Errno::INTR) => continue,
                    Err(rustix::io::Errno::AGAIN) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(events)
}

/// A start that failed while the command runs: stop it (`TERM`, then `KILL` after 10
/// seconds), and the orphans it left us, then report. A failed start leaves no process.
fn start_failed(child: &mut Supervised, report: &mut Reporter, e: StepError) -> Failure {
    let _ = terminate(child);
    stop_adopted();
    report.fail(e)
}

/// Stops the processes re-parented to us (we are a child subreaper): `TERM`, then `KILL`
/// after 5 seconds, reaping them. They are our unreaped children, so their PIDs cannot have
/// been recycled: signalling them by PID is safe.
fn stop_adopted() {
    let start = Instant::now();
    let mut sent_kill = false;
    let mut sent_term = false;
    loop {
        let kids = our_children();
        if kids.is_empty() {
            return;
        }
        let signal = if !sent_term {
            sent_term = true;
            Some(libc::SIGTERM)
        } else if !sent_kill && start.elapsed() > Duration::from_secs(5) {
            sent_kill = true;
            Some(libc::SIGKILL)
        } else {
            None
        };
        for &pid in &kids {
            if let Some(sig) = signal {
                // SAFETY: kill(2) on our own, unreaped child.
                unsafe { libc::kill(pid, sig) };
            }
            let mut status = 0;
            // SAFETY: reaps our own child if it has exited.
            unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        }
        if start.elapsed() > Duration::from_secs(10) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Our children, from `/proc/self/task/*/children`.
fn our_children() -> Vec<i32> {
    let mut kids = Vec::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                kids.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
        }
    }
    kids
}

/// Stops the command: `TERM` through its pidfd, `KILL` if it is still there after 10 s.
fn terminate(child: &mut Supervised) -> io::Result<ExitStatus> {
    let send = |child: &Supervised, sig| {
        rustix::process::pidfd_send_signal(child.pidfd(), sig).map_err(io::Error::from)
    };
    let _ = send(child, rustix::process::Signal::TERM);
    let start = Instant::now();
    let mut killed = false;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if !killed && start.elapsed() > Duration::from_secs(10) {
            let _ = send(child, rustix::process::Signal::KILL);
            killed = true;
        }
        let (sig, _, _) = wait(child, None, Some(Duration::from_millis(100)))?;
        if sig {
            let _ = child.handle_signals();
        }
        if start.elapsed() > Duration::from_secs(20) {
            return Ok(ExitStatus::from_raw(libc::SIGKILL));
        }
    }
}

/// Removes a PID file, warning (not failing) when that is impossible.
fn release(pf: PidFile) {
    let path = pf.path().to_owned();
    if let Err(e) = pf.release() {
        eprintln!(
            "pidward run: warning: {}: cannot remove: {e}",
            path.display()
        );
    }
}
