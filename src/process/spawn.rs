//! [`Command::spawn`]: the command as a [`child::Setup`] and an [`Exec`], started by the one
//! set-up engine, then its pipes and pidfd registered with tokio.
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
use super::fdmap::{Direction, FdPlan};
use super::io::{ChildReader, ChildWriter};
use super::pidfd;
use crate::child::{self, Exec, Setup, Step};
use crate::privileges::Credentials;

/// [`Command::spawn`].
pub(crate) fn spawn(cmd: &Command) -> Result<Child, Error> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::Io(io::Error::other(
            "pidward::process::Command::spawn must be called from inside a tokio runtime",
        )));
    }
    let program = cmd.program.to_string_lossy().into_owned();
    let (setup, leads_group) = setup(cmd, &program)?;
    let exec = exec(cmd);

    let fds = FdPlan::new(&cmd.fds).map_err(|e| with_program(e, &program))?;
    let mut setup = setup;
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
    let spawned = child::spawn(&plan, &exec).map_err(|e| spawn_error(&program, e))?;
    // The child has exec'd: our copies of its fds can go.
    drop(fds.child_ends);
    drop(plan);
    let (pid, pidfd) = spawned.into_parts();

    let pidfd = match super::io::register(pidfd, Interest::READABLE) {
        Ok(fd) => fd,
        Err((pidfd, e)) => {
            // Cannot watch it: do not leave it running unattended.
            let _ = pidfd::send_signal(std::os::fd::AsFd::as_fd(&pidfd), crate::Signal::KILL);
            let _ = pidfd::wait(std::os::fd::AsFd::as_fd(&pidfd), true);
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

/// The set-up part of the command, checked; and whether the child leads its process group.
fn setup(cmd: &Command, program: &str) -> Result<(Setup, bool), Error> {
    let invalid = |m: &str| Err(Error::InvalidCommand(m.to_owned()));
    let mut setup = Setup::new().close_unmapped();
    let leads_group = match (cmd.setsid, cmd.pgroup, cmd.kill_group) {
        (true, Some(_), _) => {
            return invalid(
                "setsid and process_group exclude each other (a new session is a new group)",
            );
        }
        (_, Some(pgid), _) if pgid < 0 => {
            return Err(Error::InvalidCommand(format!(
                "process group {pgid} is negative"
            )));
        }
        (_, Some(pgid), true) if pgid != 0 => {
            return invalid(
                "kill_process_group needs the child to lead its own group: process_group(0)",
            );
        }
        (true, None, _) => {
            setup = setup.new_session();
            true
        }
        (false, Some(pgid), _) => {
            setup = setup.process_group(pgid);
            pgid == 0
        }
        (false, None, true) => {
            setup = setup.process_group(0);
            true
        }
        (false, None, false) => false,
    };
    if let Some(dir) = &cmd.cwd {
        setup = setup.working_directory(dir);
    }
    if let Some(mask) = cmd.umask {
        setup = setup.umask(mask);
    }
    for limit in &cmd.rlimits {
        setup = setup.rlimit(*limit);
    }
    if let Some(creds) = credentials(cmd, program)? {
        setup = setup.credentials(creds);
    }
    Ok((setup, leads_group))
}

/// The credentials to switch to: named (resolved now) or numeric (taken as they are).
fn credentials(cmd: &Command, program: &str) -> Result<Option<Credentials>, Error> {
    if cmd.user.is_some() || cmd.group.is_some() {
        if cmd.uid.is_some() || cmd.gid.is_some() || cmd.groups.is_some() {
            return Err(Error::InvalidCommand(
                "user/group by name exclude uid, gid and groups".to_owned(),
            ));
        }
        return Credentials::resolve(cmd.user.as_deref(), cmd.group.as_deref())
            .map(Some)
            .map_err(|source| Error::Credentials {
                program: program.to_owned(),
                source,
            });
    }
    if cmd.uid.is_none() && cmd.gid.is_none() && cmd.groups.is_none() {
        return Ok(None);
    }
    // Dropping root without naming groups: do not keep root's supplementary groups.
    let groups = match &cmd.groups {
        Some(groups) => Some(groups.clone()),
        None if cmd.uid.is_some() && rustix::process::geteuid().is_root() => Some(Vec::new()),
        None => None,
    };
    Ok(Some(Credentials::from_ids(cmd.uid, cmd.gid, groups)))
}

/// The program, its arguments and its environment.
fn exec(cmd: &Command) -> Exec {
    let mut exec = Exec::new(&cmd.program);
    exec.args(&cmd.args);
    if cmd.env_clear {
        exec.env_clear();
    }
    for (key, value) in &cmd.env {
        match value {
            Some(v) => exec.env(key, v),
            None => exec.env_remove(key),
        };
    }
    exec
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
