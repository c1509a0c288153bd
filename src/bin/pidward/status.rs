//! `pidward status [--json] PIDFILE`: is the program running? LSB exit codes.
//!
//! 0 running (or starting), 1 not running but the PID file exists (stale, or a supervisor
//! that waits to restart its command), 3 not running (no file), 4 unknown (invalid file,
//! unreadable file). The exit code is the answer: when the report cannot be written (a closed
//! pipe, a full disk), that is said on standard error and the code stays what the file says.
//!
//! A PID file of `pidward run` has a state file beside it ([`pidward::supervise::State`]):
//! its state is shown too (one more clause of the line, a `service` object in JSON), and a
//! service in backoff, stopping or failed is not running.
//!
//! A stale file whose supervisor died leaving processes in its run's cgroup
//! ([`pidward::supervise::leftover`]) is 4, unknown: the service is neither running (nothing
//! supervises it) nor stopped (`run` refuses to start a second copy); the line names the PIDs,
//! and JSON lists them (`leftover_pids`, `leftover_cgroup`). `pidward stop` stops them.
//! The same holds for a supervisor that gave up on a failing system call with part of the
//! service still running (state `abandoned`: the line says so, and names the call): 4 while
//! anything is left, the file's own code once its cgroup is empty.
//!
//! Given a directory, or more than one path, it lists every PID file found (`status/scan.rs`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use pidward::liveness::ProcessInfo;
use pidward::pidfile::{self, Invalid, Status};
use pidward::supervise::{self, Exit, Leftover, Phase, State};
use pidward::time::Rfc3339;

mod scan;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Exit codes (LSB): 0 running (or starting); 1 not running, but the PID file names a dead process
(stale), or its supervisor waits to restart it or stops it; 3 not running (no PID file, or the
supervisor gave up); 4 unknown (an invalid or unreadable file, or a stale file whose supervisor
died, or gave up on a failing system call, leaving processes in its cgroup: they are named, and
`pidward stop` stops them); 2 usage error. Of several files, the worst: 4, then 1, then 3, then 0; a directory with no PID file
is 3.

Examples:
  pidward status /run/app.pid     is it running? (one line; --json: one object)
  pidward status /run             every PID file in /run and its subdirectories
  pidward status --json /run | jq -r '.[] | select(.state == \"stale\") | .path'
")]
pub struct Args {
    /// Print JSON instead of text: one object for one file, an array for a listing.
    #[arg(long)]
    pub json: bool,
    /// Leave out the header line of a listing (a directory, or several files).
    #[arg(short = 'n', long)]
    pub no_headings: bool,
    /// The PID file (pidward's own, locked, or a foreign one such as nginx's), or a directory
    /// to list the PID files of (itself and its immediate subdirectories: files named *.pid).
    #[arg(value_name = "PIDFILE|DIR")]
    pub pidfile: PathBuf,
    /// More PID files or directories: one line (or JSON object) for each PID file.
    #[arg(value_name = "PIDFILE|DIR")]
    pub more: Vec<PathBuf>,
}

#[inline(never)]
pub fn main(args: Args) -> u8 {
    if !args.more.is_empty() {
        return scan::main(&args);
    }
    // A directory is opened as a file is and said not to be a regular one: only then is it
    // looked at again (following a symbolic link, as a directory to list may be one).
    let status = pidfile::status(&args.pidfile);
    if matches!(status, Status::Invalid(Invalid::NotRegular(_))) && args.pidfile.is_dir() {
        return scan::main(&args);
    }
    let info = match &status {
        Status::Running { pid, .. } => ProcessInfo::of(*pid).ok(),
        _ => None,
    };
    let service = supervise::read_state_given(&args.pidfile, &status);
    let left = leftover_of(&args.pidfile, &status);
    let code = code_of(&status, service.as_ref(), left.as_ref());
    let report = if args.json {
        let found = Found {
            info: info.as_ref(),
            service: service.as_ref(),
            leftover: left.as_ref(),
        };
        json(&args.pidfile, &status, &found, code).to_string()
    } else {
        let mut line = format!("{}: {status}", args.pidfile.display());
        if let Some(info) = &info {
            line.push_str(&format!(
                ", up {}: {}",
                pidward::time::Human(info.uptime()),
                info.command_line()
            ));
        }
        if let Some(state) = &service {
            line.push_str("; ");
            line.push_str(&state.summary());
        }
        let abandoned = service
            .as_ref()
            .is_some_and(|s| s.phase == Phase::Abandoned);
        match &left {
            Some(left) if abandoned => line.push_str(&format!(
                "; left running: PIDs {} in {} (pidward stop stops them)",
                pids_text(&left.pids),
                left.cgroup.display()
            )),
            Some(left) => line.push_str(&format!(
                "; its supervisor died, leaving PIDs {} running in {} (pidward stop stops them)",
                pids_text(&left.pids),
                left.cgroup.display()
            )),
            None if abandoned && code != 4 => line.push_str("; nothing of it is left now"),
            None if abandoned => {
                line.push_str("; what is left cannot be found (no cgroup): see the PIDs above")
            }
            None => {}
        }
        line
    };
    if let Err(e) = writeln!(std::io::stdout(), "{report}") {
        let _ = writeln!(
            std::io::stderr(),
            "pidward status: cannot write to standard output: {e}"
        );
    }
    code
}

/// What `status` found beside a PID file's own status.
struct Found<'a> {
    info: Option<&'a ProcessInfo>,
    service: Option<&'a State>,
    leftover: Option<&'a Leftover>,
}

/// The processes a dead supervisor left in its cgroup, for a stale file.
fn leftover_of(path: &Path, status: &Status) -> Option<Leftover> {
    match status {
        Status::Stale { .. } => supervise::leftover(path),
        _ => None,
    }
}

/// The LSB code: the file's, or its supervisor's state's; 4 (unknown) for a stale file whose
/// supervisor left processes running: neither running (its supervisor is gone, nothing
/// watches or restarts it) nor stopped (a start would make a second copy).
///
/// A supervisor that gave up ([`Phase::Abandoned`]) with part of the service running is 4
/// as well, until its cgroup is seen empty: then it is the file's own code (stale).
fn code_of(status: &Status, service: Option<&State>, leftover: Option<&Leftover>) -> u8 {
    match (service, leftover) {
        (_, Some(_)) => 4,
        (Some(state), None) if state.phase == Phase::Abandoned && cgroup_is_empty(state) => {
            status.lsb_code()
        }
        (Some(state), None) => state.lsb_code(status.lsb_code()),
        (None, None) => status.lsb_code(),
    }
}

/// Whether the cgroup an abandoned service's state names holds nobody now (gone, or an
/// empty `cgroup.procs`); false without a cgroup, or when it cannot be read.
fn cgroup_is_empty(state: &State) -> bool {
    let Some(dir) = &state.cgroup else {
        return false;
    };
    match std::fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(text) => text.trim().is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

fn pids_text(pids: &[u32]) -> String {
    let text: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
    text.join(", ")
}

fn json(path: &Path, status: &Status, found: &Found, code: u8) -> serde_json::Value {
    let Found {
        info,
        service,
        leftover,
    } = *found;
    let locked = matches!(
        status,
        Status::Running { locked: true, .. } | Status::Starting
    );
    let reason = match status {
        Status::Running { .. } => None,
        other => Some(other.to_string()),
    };
    serde_json::json!({
        "state": status.name(),
        "pid": status.pid(),
        "locked": locked,
        "path": path.display().to_string(),
        "start_time": info.map(|i| Rfc3339(i.start_time()).to_string()),
        "uptime_seconds": info.map(|i| i.uptime().as_secs_f64()),
        "cmdline": info.map(|i| i.cmdline.clone()),
        "reason": reason,
        "service": service.map(service_json),
        "leftover_pids": leftover.map_or_else(Vec::new, |l| l.pids.clone()),
        "leftover_cgroup": leftover.map(|l| l.cgroup.display().to_string()),
        "exit_code": code,
    })
}

/// The `service` object: the supervisor's state file.
fn service_json(s: &State) -> serde_json::Value {
    let time = |t: Option<SystemTime>| t.map(|t| Rfc3339(t).to_string());
    let next_in = s.next_start.map(|t| {
        t.duration_since(SystemTime::now())
            .unwrap_or_default()
            .as_secs_f64()
    });
    serde_json::json!({
        "state": s.phase.name(),
        "supervisor_pid": s.supervisor,
        "main_pid": s.main_pid,
        "since": time(Some(s.since)),
        "started": time(s.started),
        "ready": time(s.ready),
        "policy": s.policy.name(),
        "restarts": s.restarts,
        "consecutive_failures": s.consecutive_failures,
        "next_start": time(s.next_start),
        "next_start_in_seconds": next_in,
        "last_exit": s.last_exit().map(exit_json),
        "status": s.status,
        "tree": s.tree,
        "dropped_lines": s.dropped,
        "history": s.history.iter().map(exit_json).collect::<Vec<_>>(),
        "summary": s.summary(),
    })
}

fn exit_json(e: &Exit) -> serde_json::Value {
    serde_json::json!({
        "at": Rfc3339(e.at).to_string(),
        "code": e.code,
        "signal": e.signal.map(|s| s.name()),
        "core": e.core,
        "cause": e.cause.name(),
        "ran_seconds": e.ran.as_secs_f64(),
        "text": e.describe(),
    })
}
