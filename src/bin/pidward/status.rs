//! `pidward status [--json] PIDFILE`: is the program running? LSB exit codes.
//!
//! 0 running (or starting), 1 not running but the PID file exists (stale), 3 not running
//! (no file), 4 unknown (invalid file, unreadable file). The exit code is the answer: when the
//! report cannot be written (a closed pipe, a full disk), that is said on standard error and
//! the code stays what the file says.

use std::io::Write;
use std::path::PathBuf;

use pidward::liveness::ProcessInfo;
use pidward::pidfile::{self, Status};

#[derive(clap::Args)]
#[command(
    after_help = "Exit codes (LSB): 0 running; 1 not running, but the PID file exists (stale); 3 not running; 4 unknown (the file cannot be read or is not a PID file; the message names the step)."
)]
pub struct Args {
    /// Print one JSON object instead of a line of text.
    #[arg(long)]
    json: bool,
    /// The PID file (pidward's own, locked, or a foreign one such as nginx's).
    pidfile: PathBuf,
}

pub fn main(args: Args) -> u8 {
    let status = pidfile::status(&args.pidfile);
    let info = match &status {
        Status::Running { pid, .. } => ProcessInfo::of(*pid).ok(),
        _ => None,
    };
    let report = if args.json {
        json(&args.pidfile, &status, info.as_ref()).to_string()
    } else {
        let mut line = format!("{}: {status}", args.pidfile.display());
        if let Some(info) = &info {
            line.push_str(&format!(
                ", up {}: {}",
                pidward::time::Human(info.uptime()),
                info.command_line()
            ));
        }
        line
    };
    if let Err(e) = writeln!(std::io::stdout(), "{report}") {
        let _ = writeln!(
            std::io::stderr(),
            "pidward status: cannot write to standard output: {e}"
        );
    }
    status.lsb_code()
}

fn json(path: &std::path::Path, status: &Status, info: Option<&ProcessInfo>) -> serde_json::Value {
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
        "start_time": info.map(|i| pidward::time::Rfc3339(i.start_time()).to_string()),
        "uptime_seconds": info.map(|i| i.uptime().as_secs_f64()),
        "cmdline": info.map(|i| i.cmdline.clone()),
        "reason": reason,
        "exit_code": status.lsb_code(),
    })
}
