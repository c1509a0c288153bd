//! `pidward run --exec`: no supervisor; set this process up, then become the command.

use std::os::fd::{AsFd, OwnedFd};

use pidward::daemon::Daemon;

use super::Plan;
use super::failure::{Failure, report_to};

/// `--exec`: set this process up (after detaching, with `--daemon`), then exec the command.
pub fn exec(plan: Plan) -> Result<u8, Failure> {
    let pid_file = match &plan.args.pidfile {
        Some(path) => Some(plan.acquire(path, plan.args.daemon)?),
        None => None,
    };
    // Keep a way to report errors after our stderr has been redirected; not redirected, it
    // stays where it is. (Detached, errors travel to the launcher over the status pipe
    // instead.)
    let (out, err) = plan.output_stdio(false);
    let report = if plan.args.daemon || err.is_none() {
        None
    } else {
        dup_stderr()
    };
    // Detached, the launcher waits for the exec: end of file after the exec announcement.
    let mut setup = plan.command_setup();
    if let Some(out) = out {
        setup = setup.stdout(out);
    }
    if let Some(err) = err {
        setup = setup.stderr(err);
    }
    if let Some(fd) = &report {
        setup = setup.keep_fd(fd.as_fd());
    }
    let mut daemon = Daemon::new(setup)
        .detach(plan.args.daemon)
        .report_ready(true);
    if let Some(pf) = pid_file {
        daemon = daemon.pid_file(pf);
    }
    let detached = match daemon.start() {
        Ok(d) => d,
        Err(e) if plan.args.daemon => return Err(plan.launcher_failure(e)),
        Err(e) => return Err(report_to(&report, plan.launcher_failure(e))),
    };
    let error = detached.exec(&plan.command());
    Err(report_to(&report, Failure::from(error)))
}

/// A close-on-exec copy of stderr (`fcntl(F_DUPFD_CLOEXEC)`), above the standard streams.
fn dup_stderr() -> Option<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(std::io::stderr(), 3).ok()
}
