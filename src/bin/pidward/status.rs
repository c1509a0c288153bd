//! `pidward status [--json] PIDFILE`: is the program running? LSB exit codes.
//!
//! 0 running (or starting), 1 not running but the PID file exists (stale), 3 not running
//! (no file), 4 unknown (invalid file, unreadable file). The exit code is the answer: when the
//! report cannot be written (a closed pipe, a full disk), that is said on standard error and
//! the code stays what the file says.
//!
//! Given a directory, or more than one path, it lists every PID file found (`status/scan.rs`).

use std::io::Write;
use std::path::PathBuf;

use pidward::liveness::ProcessInfo;
use pidward::pidfile::{self, Status};

mod scan;

#[derive(clap::Args)]
#[command(after_help = "\
Exit codes (LSB): 0 running (or starting); 1 not running, but the PID file names a dead process
(stale); 3 not running (no PID file); 4 unknown (an invalid or unreadable file); 2 usage error.
Of several files, the worst: 4, then 1, then 3, then 0; a directory with no PID file is 3.

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
