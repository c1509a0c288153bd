//! `pidward status DIR` and `pidward status FILE…`: one line per PID file.
//!
//! A directory is scanned by [`pidward::pidfile::scan`] (the directory and its immediate
//! subdirectories, files named `*.pid` that hold a PID; anything else is skipped without a
//! word); a file named on the command line is always reported, whatever it holds. The lines
//! are sorted by path and aligned (state coloured on a terminal); `--json` prints an array of
//! the objects `status --json FILE` prints. The exit code is the worst LSB code of the set
//! ([`pidward::pidfile::worst_lsb_code`]) of the codes `status FILE` gives each (a PID file
//! of `pidward run` whose supervisor waits to restart its command is not running); a
//! directory that cannot be read counts as unknown (4), and one with no PID file as not
//! running (3). The supervisor's state shows in STATE when it is not `running` (`backoff`,
//! `stopping`…), and its summary after the command.

use std::io::Write;
use std::path::{Path, PathBuf};

use pidward::liveness::ProcessInfo;
use pidward::pidfile::{self, Status};
use pidward::supervise::{self, Leftover, State};

use crate::table::{Cell, Colour, Table};

/// The files to report: every named file, and what each named directory holds.
struct Found {
    entries: Vec<(PathBuf, Status)>,
    /// A named directory could not be read (said on standard error).
    unreadable: bool,
}

fn collect(paths: &[PathBuf]) -> Found {
    let mut entries = Vec::new();
    let mut unreadable = false;
    for path in paths {
        if path.is_dir() {
            match pidfile::scan(path) {
                Ok(found) => entries.extend(found.into_iter().map(|e| (e.path, e.status))),
                Err(e) => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "pidward status: {}: cannot read the directory: {e}",
                        path.display()
                    );
                    unreadable = true;
                }
            }
        } else {
            entries.push((path.clone(), pidfile::status(path)));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|a, b| a.0 == b.0);
    Found {
        entries,
        unreadable,
    }
}

pub fn main(args: &super::Args) -> u8 {
    let mut paths = vec![args.pidfile.clone()];
    paths.extend(args.more.iter().cloned());
    let found = collect(&paths);
    let reports: Vec<Report> = found
        .entries
        .iter()
        .map(|(path, status)| Report::of(path, status))
        .collect();
    let written = if args.json {
        let objects: Vec<serde_json::Value> = found
            .entries
            .iter()
            .zip(&reports)
            .map(|((path, status), r)| {
                let found = super::Found {
                    info: r.info.as_ref(),
                    service: r.service.as_ref(),
                    leftover: r.leftover.as_ref(),
                };
                super::json(path, status, &found, r.code)
            })
            .collect();
        writeln!(std::io::stdout(), "{}", serde_json::Value::Array(objects))
    } else {
        if found.entries.is_empty() && !found.unreadable {
            let _ = writeln!(
                std::io::stderr(),
                "pidward status: no PID files in {}",
                describe(&paths)
            );
        }
        if found.entries.is_empty() {
            Ok(())
        } else {
            table(&found.entries, &reports).print(!args.no_headings)
        }
    };
    if let Err(e) = written {
        let _ = writeln!(
            std::io::stderr(),
            "pidward status: cannot write to standard output: {e}"
        );
    }
    let code = pidfile::worst_lsb_code(reports.iter().map(|r| r.code));
    if found.unreadable { 4 } else { code }
}

/// What `status FILE` adds to a file's status: its process, its supervisor's state, its code.
struct Report {
    info: Option<ProcessInfo>,
    service: Option<State>,
    leftover: Option<Leftover>,
    code: u8,
}

impl Report {
    fn of(path: &Path, status: &Status) -> Report {
        let info = match status {
            Status::Running { pid, .. } => ProcessInfo::of(*pid).ok(),
            _ => None,
        };
        let service = supervise::read_state_given(path, status);
        let leftover = super::leftover_of(path, status);
        let code = super::code_of(status, service.as_ref(), leftover.as_ref());
        Report {
            info,
            service,
            leftover,
            code,
        }
    }
}

fn describe(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

fn table(entries: &[(PathBuf, Status)], reports: &[Report]) -> Table {
    let mut table = Table::new(&["PATH", "STATE", "PID", "UP", "LOCKED", "COMMAND"]);
    for ((path, status), report) in entries.iter().zip(reports) {
        table.push(row(path, status, report));
    }
    table
}

fn row(path: &Path, status: &Status, report: &Report) -> Vec<Cell> {
    let info = report.info.as_ref();
    let mut colour = match status {
        Status::Running { .. } => Colour::Green,
        Status::Starting => Colour::Cyan,
        Status::Stale { .. } | Status::Vacant(_) => Colour::Yellow,
        Status::Absent => Colour::Dim,
        Status::Invalid(_) | Status::Unknown { .. } => Colour::Red,
    };
    let pid = status.pid().map_or("-".to_owned(), |p| p.to_string());
    let up = info.map_or("-".to_owned(), |i| {
        pidward::time::Human(i.uptime()).to_string()
    });
    let locked = match status {
        Status::Running { locked: true, .. } | Status::Starting => "yes",
        Status::Running { locked: false, .. } | Status::Stale { .. } | Status::Vacant(_) => "no",
        _ => "-",
    };
    let mut state = status.name();
    let mut command = match (status, info) {
        (Status::Running { .. }, Some(info)) => info.command_line(),
        (Status::Running { .. }, None) => "-".to_owned(),
        (Status::Stale { why, .. }, _) => format!("({why})"),
        (Status::Starting, _) => "(no PID written yet)".to_owned(),
        (Status::Absent, _) => "(no PID file)".to_owned(),
        (Status::Invalid(why) | Status::Vacant(why), _) => format!("({why})"),
        (Status::Unknown { step, source }, _) => format!("(cannot {step} it: {source})"),
    };
    if let Some(service) = &report.service {
        let phase = service.phase.name();
        if status.is_running() && phase != "running" {
            state = phase;
            colour = if report.code == 0 {
                Colour::Cyan
            } else {
                Colour::Yellow
            };
        }
        command.push_str("; ");
        command.push_str(&service.summary());
    }
    vec![
        Cell::plain(path.display().to_string()),
        Cell::coloured(state, colour),
        Cell::plain(pid),
        Cell::plain(up),
        Cell::plain(locked),
        Cell::plain(command),
    ]
}
