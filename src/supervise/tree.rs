//! Stopping what a supervisor started: the command and the orphans it left us, together,
//! with a [`Schedule`]; and which [`Mechanism`] finds them.
//!
//! With a cgroup of the service's own ([`super::cgroup`]), the tree is the cgroup: every
//! signal of the schedule goes to each member, `KILL` through `cgroup.kill` (all at once,
//! race-free), and the stop is over when the cgroup is empty. Without one:
//!
//! As a child subreaper, the supervisor is the parent of every orphan of the command. Its
//! children are therefore the tree: the command, through its pidfd, and the others by PID,
//! which is safe because they are our unreaped children (a PID cannot be recycled before its
//! parent reaps it). They are listed from `/proc/self/task/*/children`. Each signal of the
//! schedule goes to all of them, followed by `SIGCONT` (so that a stopped process acts on
//! it); each wait ends early once all are gone. `SIGCHLD` is in the supervisor's signalfd, so
//! the waits sleep in `poll(2)` and wake at each exit. When the command leads a process group
//! of its own, the group gets each signal too (its members that have not been orphaned yet),
//! by its ID only while that ID is safe: the command is not reaped, or one of our unreaped
//! children is still in the group (a group ID cannot be recycled while a member lives).
//!
//! A failing call does not end the stop. Each is tried again ([`super::retry`]); one that
//! still fails is recorded as the call given up on ([`Supervised::give_up`]) and the schedule
//! goes on: a signal that could not be sent, then the wait, then the next signal, `KILL`
//! (through `cgroup.kill`, and to each child by PID). A `poll(2)` that fails becomes a sleep
//! of the same length. [`left`] then says whether anything survived it all.

use std::io;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::retry::retry;
use super::{Call, Supervised};
use crate::Signal;
use crate::stop::{Schedule, Step};

/// How a supervisor finds the processes of a service when it ends them
/// ([`Running::mechanism`](super::Running::mechanism)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mechanism {
    /// A cgroup (v2) of the service's own, ended with `cgroup.kill`: every process the
    /// command started, wherever it was re-parented.
    Cgroup,
    /// The child subreaper (every orphan is re-parented to the supervisor) and the command's
    /// process group, when it has one of its own.
    Subreaper,
    /// The command's process group only ([`KillMode::Group`](super::KillMode::Group)).
    ProcessGroup,
    /// The main process only ([`KillMode::Main`](super::KillMode::Main)).
    Main,
}

impl Mechanism {
    /// `cgroup`, `subreaper`, `process-group` or `main`.
    ///
    /// ```
    /// assert_eq!(pidward::supervise::Mechanism::Cgroup.as_str(), "cgroup");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Cgroup => "cgroup",
            Mechanism::Subreaper => "subreaper",
            Mechanism::ProcessGroup => "process-group",
            Mechanism::Main => "main",
        }
    }
}

impl std::fmt::Display for Mechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Runs `schedule` over the command and our other children until none is left or the
/// schedule ends; reaps them. Returns the command's status once it has been reaped (here or
/// before), `None` if it outlived the schedule. `signalling` is called once, before the
/// first signal: not at all when nothing is left to stop.
pub(crate) fn stop(
    child: &mut Supervised,
    schedule: &Schedule,
    signalling: &mut dyn FnMut(),
) -> io::Result<Option<ExitStatus>> {
    run(child, schedule, false, signalling)
}

/// [`stop`] for [`KillMode::Group`](super::KillMode::Group): the command and its process
/// group only (our other children are reaped if they exit, not signalled).
pub(crate) fn stop_group(
    child: &mut Supervised,
    schedule: &Schedule,
    signalling: &mut dyn FnMut(),
) -> io::Result<Option<ExitStatus>> {
    run(child, schedule, true, signalling)
}

fn run(
    child: &mut Supervised,
    schedule: &Schedule,
    group_only: bool,
    signalling: &mut dyn FnMut(),
) -> io::Result<Option<ExitStatus>> {
    let status = match child.try_wait() {
        Ok(status) => status,
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => return Err(e),
        Err(e) => {
            child.give_up(Call::Wait, e);
            None
        }
    };
    let mut stop = Stopping {
        status,
        last: None,
        signalled: Vec::new(),
        group_only,
    };
    for step in schedule.run_order() {
        if stop.status.is_some() && stop.is_over(child) {
            break;
        }
        match step {
            Step::Signal(signal) => {
                if stop.last.is_none() {
                    signalling();
                }
                stop.last = Some(signal);
                stop.signalled.clear();
                stop.send(child);
            }
            Step::Wait(d) => stop.wait(child, Instant::now() + d),
            Step::Forever => {}
        }
    }
    Ok(stop.status)
}

/// A stop in progress.
struct Stopping {
    /// The command's status, once reaped.
    status: Option<ExitStatus>,
    /// The signal of the current step.
    last: Option<Signal>,
    /// Who has had it: an orphan re-parented to us after the step began gets it on arrival.
    signalled: Vec<i32>,
    /// Only the command's process group.
    group_only: bool,
}

impl Stopping {
    /// Sends the current step's signal (and `SIGCONT`) to whoever has not had it yet: the
    /// command, if not reaped, and our other children.
    fn send(&mut self, child: &mut Supervised) {
        let Some(signal) = self.last else { return };
        let cont = signal.is_catchable() && signal != Signal::CONT;
        let main = child.pid() as i32;
        let fresh = !self.signalled.contains(&main);
        if self.status.is_none() && fresh {
            if let Err(e) = child.send(signal) {
                child.give_up(Call::Signal, e);
            }
            if cont {
                let _ = child.send(Signal::CONT);
            }
        }
        if fresh {
            self.signalled.push(main);
            if (child.leads_group() || self.group_only) && self.group_is_safe(child) {
                // SAFETY: kill(2) of a group whose ID cannot have been recycled (above).
                unsafe { libc::kill(-main, signal.as_raw()) };
                if cont {
                    // SAFETY: as above.
                    unsafe { libc::kill(-main, libc::SIGCONT) };
                }
            }
        }
        if let Some(cgroup) = &child.cgroup {
            if signal == Signal::KILL {
                if let Err(e) = retry(|| cgroup.kill()) {
                    child.give_up(Call::CgroupKill, e);
                }
            } else {
                let sent = cgroup.signal(signal, &self.signalled);
                self.signalled.extend(sent);
            }
        }
        if self.group_only {
            return;
        }
        for pid in children(child.pid()) {
            if self.signalled.contains(&pid) {
                continue;
            }
            // SAFETY: kill(2) on our own unreaped child, whose PID cannot have been recycled.
            unsafe { libc::kill(pid, signal.as_raw()) };
            if cont {
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGCONT) };
            }
            self.signalled.push(pid);
        }
    }

    /// Reaps as the tree exits, until it is all gone or `deadline`. A call that fails is
    /// recorded and the wait goes on (module docs).
    fn wait(&mut self, child: &mut Supervised, deadline: Instant) {
        loop {
            if self.status.is_none() {
                match child.try_wait() {
                    Ok(status) => self.status = status,
                    Err(e) => child.give_up(Call::Wait, e),
                }
            }
            if self.status.is_some()
                && let Err(e) = child.reap_orphans()
            {
                child.give_up(Call::Reap, e);
            }
            for pid in children(child.pid()) {
                let mut st = 0;
                // SAFETY: reaps our own child if it has exited.
                unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
            }
            if self.status.is_some() && self.is_over(child) {
                return;
            }
            if Instant::now() >= deadline {
                return;
            }
            // Orphans re-parented to us since the step began.
            self.send(child);
            // SIGCHLD wakes the poll; the bound covers an orphan of an orphan that exits or
            // is re-parented to us without a SIGCHLD reaching us.
            let until = deadline.min(Instant::now() + Duration::from_millis(50));
            let exit = self.status.is_none();
            match retry(|| super::poll::wait(child, &[], Some(until), exit)) {
                // Drains the signalfd (a signal sent to us now goes to the command, as ever).
                Ok(readable) if readable.signals => {
                    let _ = child.handle_signals();
                }
                Ok(_) => {}
                Err(e) => {
                    child.give_up(Call::Poll, e);
                    std::thread::sleep(until.saturating_duration_since(Instant::now()));
                }
            }
        }
    }
}

impl Stopping {
    /// Whether nothing is left to stop (the command itself aside): no child of ours, the
    /// cgroup empty (and, found so, removed); in group mode, no process left in the
    /// command's group.
    fn is_over(&self, child: &Supervised) -> bool {
        if self.group_only {
            return !self.group_is_safe(child);
        }
        children(child.pid()).is_empty()
            && child.cgroup.as_ref().is_none_or(|c| c.remove_if_empty())
    }

    /// Whether the command's group ID still names its group: the command is not reaped, or
    /// one of our unreaped children is in the group.
    fn group_is_safe(&self, child: &Supervised) -> bool {
        let main = child.pid() as i32;
        self.status.is_none()
            || children(child.pid())
                .into_iter()
                // SAFETY: getpgid(2) of our own unreaped child.
                .any(|pid| unsafe { libc::getpgid(pid) } == main)
    }
}

/// What is left of the service after a stop: the members of its cgroup when it has one,
/// else the command (if it has not been reaped and has not exited) and our other children.
/// Empty when the stop ended it all.
pub(crate) fn left(child: &mut Supervised) -> Vec<u32> {
    if let Some(cgroup) = &child.cgroup {
        if cgroup.is_empty() {
            return Vec::new();
        }
        let mut pids: Vec<u32> = cgroup.members().into_iter().map(|p| p as u32).collect();
        if pids.is_empty() {
            // Populated, yet the list could not be read: the command stands for it.
            pids.push(child.pid());
        }
        return pids;
    }
    let mut pids = Vec::new();
    let unreaped = !matches!(child.try_wait(), Ok(Some(_)));
    if unreaped && !child.pidfd.has_exited().unwrap_or(false) {
        pids.push(child.pid());
    }
    pids.extend(children(child.pid()).into_iter().map(|p| p as u32));
    pids
}

/// Our children other than the command, from `/proc/self/task/*/children`; none, without
/// reading them, when the process has no child at all (the usual end of a run: the command
/// reaped, no orphan).
fn children(main: u32) -> Vec<i32> {
    let mut kids = Vec::new();
    if !any_child() {
        return kids;
    }
    // Not std's read_dir: its close asserts success, and a failed close must not abort us.
    if let Ok(tasks) = crate::sys::entry_names(std::path::Path::new("/proc/self/task")) {
        for task in tasks {
            let path = std::path::Path::new("/proc/self/task")
                .join(task)
                .join("children");
            if let Ok(text) = std::fs::read_to_string(path) {
                kids.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok())
                        .filter(|&p| p != main as i32),
                );
            }
        }
    }
    kids
}

/// Whether this process has a child, running, stopped or exited but not reaped, of any thread
/// and any exit signal: `waitid(2)` of `P_ALL` with `__WALL | WNOHANG | WNOWAIT`, which fails
/// with `ECHILD` only when there is none, and takes nothing. One system call in place of the
/// listing of `/proc/self/task` and a read of each thread's `children`; any other failure
/// says "maybe", and the listing answers.
fn any_child() -> bool {
    let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
    // SAFETY: waitid(2) with WNOWAIT only fills `info`; nothing is reaped.
    let r = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            info.as_mut_ptr(),
            libc::WEXITED
                | libc::WSTOPPED
                | libc::WCONTINUED
                | libc::WNOHANG
                | libc::WNOWAIT
                | libc::__WALL,
        )
    };
    !(r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD))
}
