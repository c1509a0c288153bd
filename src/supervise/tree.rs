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

use std::io;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::Supervised;
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
/// before), `None` if it outlived the schedule.
pub(crate) fn stop(child: &mut Supervised, schedule: &Schedule) -> io::Result<Option<ExitStatus>> {
    run(child, schedule, false)
}

/// [`stop`] for [`KillMode::Group`](super::KillMode::Group): the command and its process
/// group only (our other children are reaped if they exit, not signalled).
pub(crate) fn stop_group(
    child: &mut Supervised,
    schedule: &Schedule,
) -> io::Result<Option<ExitStatus>> {
    run(child, schedule, true)
}

fn run(
    child: &mut Supervised,
    schedule: &Schedule,
    group_only: bool,
) -> io::Result<Option<ExitStatus>> {
    let mut stop = Stopping {
        status: child.try_wait()?,
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
                stop.last = Some(signal);
                stop.signalled.clear();
                stop.send(child);
            }
            Step::Wait(d) => stop.wait(child, Instant::now() + d)?,
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
    fn send(&mut self, child: &Supervised) {
        let Some(signal) = self.last else { return };
        let cont = signal.is_catchable() && signal != Signal::CONT;
        let main = child.pid() as i32;
        let fresh = !self.signalled.contains(&main);
        if self.status.is_none() && fresh {
            let _ = child.send(signal);
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
                let _ = cgroup.kill();
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

    /// Reaps as the tree exits, until it is all gone or `deadline`.
    fn wait(&mut self, child: &mut Supervised, deadline: Instant) -> io::Result<()> {
        loop {
            if self.status.is_none() {
                self.status = child.try_wait()?;
            }
            if self.status.is_some() {
                child.reap_orphans()?;
            }
            for pid in children(child.pid()) {
                let mut st = 0;
                // SAFETY: reaps our own child if it has exited.
                unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
            }
            if self.status.is_some() && self.is_over(child) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Ok(());
            }
            // Orphans re-parented to us since the step began.
            self.send(child);
            // SIGCHLD wakes the poll; the bound covers an orphan of an orphan that exits or
            // is re-parented to us without a SIGCHLD reaching us.
            let until = deadline.min(Instant::now() + Duration::from_millis(50));
            let readable = super::poll::wait(child, &[], Some(until), self.status.is_none())?;
            if readable.signals {
                // Drains the signalfd (a signal sent to us now goes to the command, as ever).
                let _ = child.handle_signals();
            }
        }
    }
}

impl Stopping {
    /// Whether nothing is left to stop (the command itself aside): no child of ours, the
    /// cgroup empty; in group mode, no process left in the command's group.
    fn is_over(&self, child: &Supervised) -> bool {
        if self.group_only {
            return !self.group_is_safe(child);
        }
        children(child.pid()).is_empty() && child.cgroup.as_ref().is_none_or(|c| c.is_empty())
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

/// Our children other than the command, from `/proc/self/task/*/children`.
fn children(main: u32) -> Vec<i32> {
    let mut kids = Vec::new();
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
