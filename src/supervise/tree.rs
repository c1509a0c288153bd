//! Stopping what a supervisor started: the command and the orphans it left us, together,
//! with a [`Schedule`].
//!
//! As a child subreaper, the supervisor is the parent of every orphan of the command. Its
//! children are therefore the tree: the command, through its pidfd, and the others by PID,
//! which is safe because they are our unreaped children (a PID cannot be recycled before its
//! parent reaps it). They are listed from `/proc/self/task/*/children`. Each signal of the
//! schedule goes to all of them, followed by `SIGCONT` (so that a stopped process acts on
//! it); each wait ends early once all are gone. `SIGCHLD` is in the supervisor's signalfd, so
//! the waits sleep in `poll(2)` and wake at each exit.

use std::io;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::Supervised;
use crate::Signal;
use crate::stop::{Schedule, Step};

/// Runs `schedule` over the command and our other children until none is left or the
/// schedule ends; reaps them. Returns the command's status once it has been reaped (here or
/// before), `None` if it outlived the schedule.
pub(crate) fn stop(child: &mut Supervised, schedule: &Schedule) -> io::Result<Option<ExitStatus>> {
    let mut status = child.try_wait()?;
    for step in schedule.run_order() {
        if status.is_some() && children(child.pid()).is_empty() {
            break;
        }
        match step {
            Step::Signal(signal) => {
                send_all(child, status.is_none(), signal);
                if signal.is_catchable() && signal != Signal::CONT {
                    send_all(child, status.is_none(), Signal::CONT);
                }
            }
            Step::Wait(d) => status = wait_all(child, status, Instant::now() + d)?,
            Step::Forever => {}
        }
    }
    Ok(status)
}

/// Sends `signal` to the command (if not reaped yet) and to our other children.
fn send_all(child: &Supervised, main: bool, signal: Signal) {
    if main {
        let _ = child.send(signal);
    }
    for pid in children(child.pid()) {
        // SAFETY: kill(2) on our own unreaped child, whose PID cannot have been recycled.
        unsafe { libc::kill(pid, signal.as_raw()) };
    }
}

/// Reaps as the tree exits, until it is all gone or `deadline`; the command's status.
fn wait_all(
    child: &mut Supervised,
    mut status: Option<ExitStatus>,
    deadline: Instant,
) -> io::Result<Option<ExitStatus>> {
    loop {
        if status.is_none() {
            status = child.try_wait()?;
        }
        if status.is_some() {
            child.reap_orphans()?;
        }
        let others = children(child.pid());
        for &pid in &others {
            let mut st = 0;
            // SAFETY: reaps our own child if it has exited.
            unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
        }
        if status.is_some() && children(child.pid()).is_empty() {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            return Ok(status);
        }
        // SIGCHLD wakes the poll; the bound covers an orphan of an orphan that exits before
        // it is re-parented to us (no SIGCHLD reaches us for it).
        let until = deadline.min(Instant::now() + Duration::from_millis(50));
        let readable = super::poll::wait(child, None, Some(until), status.is_none())?;
        if readable.signals {
            // Drains the signalfd (a signal sent to us now goes to the command, as ever).
            let _ = child.handle_signals();
        }
    }
}

/// Our children other than the command, from `/proc/self/task/*/children`.
fn children(main: u32) -> Vec<i32> {
    let mut kids = Vec::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
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
