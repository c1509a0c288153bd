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
//! Given a directory, or more than one path, it lists every PID file found (`status/scan.rs`).

use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use pidward::liveness::ProcessInfo;
use pidward::pidfile::{self, Status};
use pidward::supervise::{self, Exit, State};
use pidward::time::Rfc3339;

mod scan;

#[derive(clap::Args)]
#[command(after_help = "\
Exit codes (LSB): 0 running (or starting); 1 not running, but the PID file names a dead process
(stale), or its supervisor waits to restart it or stops it; 3 not running (no PID file, or the
supervisor gave up); 4 unknown (an invalid or unreadable file); 2 usage error. Of several
files, the worst: 4, then 1, then 3, then 0; a directory with no PID file is 3.

Examples:
  pidward status /run/app.pid     is it running? (one line; --json: one object)
  pidward status /run             every PID file in /run and its subdirectories
  pidward status --json /run | jq -r '.[] | select(.state == \"stale\") | .path'
")]
pub struct Args {
    /// Print JSON instead of text: one object for one file, an array for a listing.
    #[arg(long)]
    json: bool,
    /// Leave out the header line of a listing (a directory, or several files).
    #[arg(short = 'n', long)]
    no_headings: bool,
    /// The PID file (pidward's own, locked, or a foreign one such as nginx's), or a directory
    /// to list the PID files of (itself and its immediate subdirectories: files named *.pid).
    #[arg(value_name = "PIDFILE|DIR")]
    pidfile: PathBuf,
    /// More PID files or directories: one line (or JSON object) for each PID file.
    #[arg(value_name = "PIDFILE|DIR")]
    more: Vec<PathBuf>,
}

pub fn main(args: Args) -> u8 {
    if !args.more.is_empty() || args.pidfile.is_dir() {
        return scan::main(&args);
    }
    let status = pidfile::status(&args.pidfile);
    let info = match &status {
        Status::Running { pid, .. } => ProcessInfo::of(*pid).ok(),
        _ => None,
    };
    let service = supervise::read_state(&args.pidfile);
    let code = match &service {
        Some(state) => state.lsb_code(status.lsb_code()),
        None => status.lsb_code(),
    };
    let report = if args.json {
        json(
            &args.pidfile,
            &status,
            info.as_ref(),
            service.as_ref(),
            code,
        )
        .to_string()
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

fn json(
    path: &std::path::Path,
    status: &Status,
    info: Option<&ProcessInfo>,
    service: Option<&State>,
    code: u8,
) -> serde_json::Value {
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
