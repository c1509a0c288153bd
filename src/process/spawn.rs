//! Starting a [`Command`]: its [`Setup`] and [`Exec`] checked and completed, started by the
//! one set-up engine, then its pipes and pidfd registered with tokio.
//!
//! Everything fallible happens before the child exists: the command is checked, users and
//! groups resolved, pipes created and registered with the runtime (so that a runtime without
//! I/O is an error that starts nothing). [`child::spawn`] then starts the child with
//! `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` and returns once it has exec'd, or with the
//! step that failed and no child left behind.

use std::io;

use tokio::io::Interest;

use super::child::{Child, Options};
use super::command::Command;
use super::error::Error;
use super::fdmap::{Direction, FdPlan, Stdio};
use super::io::{ChildReader, ChildWriter, register};
use crate::child::{self, Session, Setup, Step};
use crate::pidfd::PidFd;
use crate::privileges::Credentials;

/// Starts `cmd`, with `defaults` for the standard fds it does not map.
pub(crate) fn spawn(cmd: &Command, defaults: [Stdio; 3]) -> Result<Child, Error> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::Io(io::Error::other(
            "pidward::process::Command::spawn must be called from inside a tokio runtime",
        )));
    }
    let program = cmd.exec.get_program().to_string_lossy().into_owned();
    let (mut setup, leads_group) = setup(cmd, &program)?;

    let fds = FdPlan::new(&cmd.fds, defaults).map_err(|e| with_program(e, &program))?;
    for &(target, source) in &fds.moves {
        setup = setup.fd_borrowed(target, source);
    }
    let plan = setup.prepare().map_err(|e| spawn_error(&program, e))?;
    // Register our pipe ends with the runtime before the child exists.
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for (child_fd, dir, fd) in fds.parent_ends {
        match dir {
            Direction::Read => readers.push(ChildReader::new(child_fd, fd, cmd.pipe_size)?),
            Direction::Write => writers.push(ChildWriter::new(child_fd, fd, cmd.pipe_size)?),
        }
    }
    let spawned = child::spawn(&plan, &cmd.exec).map_err(|e| spawn_error(&program, e))?;
    // The child has exec'd: our copies of its fds can go.
    drop(fds.child_ends);
    drop(plan);
    let (pid, pidfd) = spawned.into_parts();

    let pidfd = match register(PidFd::from_owned(pidfd), Interest::READABLE) {
        Ok(fd) => fd,
        Err((pidfd, e)) => {
            // Cannot watch it: do not leave it running unattended.
            let _ = pidfd.send_signal(crate::Signal::KILL);
            let _ = pidfd.reap(true);
            return Err(Error::Io(e));
        }
    };
    Ok(Child::new(
        pid,
        pidfd,
        readers,
        writers,
        Options {
            kill_on_drop: cmd.kill_on_drop,
            group: cmd.kill_group && leads_group,
        },
    ))
}

/// The command's set-up, checked and completed for one start; and whether the child leads its
/// process group.
fn setup(cmd: &Command, program: &str) -> Result<(Setup, bool), Error> {
    let mut setup = cmd.setup.try_clone()?;
    let leads_group = match (setup.session(), cmd.kill_group) {
        (Session::Group(pgid), _) if pgid < 0 => {
            return Err(Error::InvalidCommand(format!(
                "process group {pgid} is negative"
            )));
        }
        (Session::New | Session::Group(0), _) => true,
        (Session::Group(_), true) => {
            return Err(Error::InvalidCommand(
                "kill_process_group needs the child to lead its own group: process_group(0)"
                    .to_owned(),
            ));
        }
        (Session::Group(_), false) => false,
        (Session::Inherit, true) => {
            setup = setup.process_group(0);
            true
        }
        (Session::Inherit, false) => false,
    };
    if let Some(creds) = credentials(&setup, program)? {
        setup = setup.credentials(creds);
    }
    Ok((setup, leads_group))
}

/// The credentials to switch to, if they change: named ones resolved now (so that an unknown
/// user is [`Error::Credentials`]), numeric ones completed.
fn credentials(setup: &Setup, program: &str) -> Result<Option<Credentials>, Error> {
    let (user, group) = setup.names();
    let given = setup.get_credentials();
    if user.is_some() || group.is_some() {
        if given.is_some() {
            return Err(Error::InvalidCommand(
                "user/group by name exclude credentials, uid, gid and groups".to_owned(),
            ));
        }
        return Credentials::resolve(user, group)
            .map(Some)
            .map_err(|source| Error::Credentials {
                program: program.to_owned(),
                source,
            });
    }
    // Dropping root without naming groups: do not keep root's supplementary groups.
    match given {
        Some(c)
            if c.uid().is_some()
                && c.groups().is_none()
                && rustix::process::geteuid().is_root() =>
        {
            let creds = Credentials::from_ids(c.uid(), c.gid(), Some(Vec::new()));
            Ok(Some(creds.effective_only(c.is_effective_only())))
        }
        _ => Ok(None),
    }
}

/// A failure of the set-up engine: a command that cannot be run as written, or a step.
fn spawn_error(program: &str, e: child::Error) -> Error {
    match e.step() {
        Step::Command => Error::InvalidCommand(e.detail().to_owned()),
        step => Error::Spawn {
            program: program.to_owned(),
            step,
            source: e,
        },
    }
}

/// Puts the program name into an error made before it was known.
fn with_program(e: Error, program: &str) -> Error {
    match e {
        Error::Spawn { step, source, .. } => Error::Spawn {
            program: program.to_owned(),
            step,
            source,
        },
        other => other,
    }
}
