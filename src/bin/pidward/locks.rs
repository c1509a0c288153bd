//! `pidward locks [--json] [-p PID] [-n]`: the file locks on this machine, like `lslocks`,
//! with each holder's command line and age, and what the locked file records.
//!
//! The table is [`pidward::flock::system_locks`]: one row per lock, as `lslocks` has it, for
//! the process `/proc/locks` names while that process still holds the lock, else for the
//! first process whose descriptor holds it (a daemon whose launcher took the lock and exited;
//! an open file description lock, PID -1 in `/proc/locks`); PID -1 when no holder can be
//! seen. `-p PID` keeps the locks PID holds (or waits for), with that process's row. A request still waiting for its
//! lock is marked `*` after its mode, as `lslocks` marks it. RECORD is what the locked file
//! holds when it is a pidward lock file (`PID on HOST since TIME`) or a PID file (`pid N`).
//!
//! `--json` prints `{"locks": [...]}` with `lslocks -J`'s field names (`command`, `pid`,
//! `type`, `size`, `mode`, `m`, `start`, `end`, `path`, and `inode`, `maj:min` of
//! `--output-all`); `size` is in bytes (`lslocks -J --bytes`) and `end` is 0 for "to the end of
//! the file", as in `lslocks`. pidward adds `blocked`, `holders` (every PID whose descriptor
//! holds the lock), `cmdline`, `start_time`, `uptime_seconds` and `record`.
//!
//! Exit codes: 0 listed (an empty list too); 1 `/proc/locks` cannot be read; 2 usage error.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use pidward::flock::{SystemLock, system_locks};
use pidward::liveness::ProcessInfo;
use pidward::{lockfile, pidfile};

use crate::table::{Cell, Colour, Table};

#[derive(clap::Args)]
#[command(after_help = "\
Exit codes: 0 listed (an empty list too); 1 /proc/locks cannot be read; 2 usage error.

Examples:
  pidward locks                          every lock, its holder's command line and age
  pidward locks -p \"$(cat /run/app.pid)\"   the locks one process holds or waits for
  pidward locks --json | jq '.locks[] | select(.record.kind == \"pidfile\")'
")]
pub struct Args {
    /// Print {\"locks\": [...]} as `lslocks -J` does, with pidward's fields added.
    #[arg(long)]
    json: bool,
    /// Only the locks this process holds or waits for.
    #[arg(short, long)]
    pid: Option<u32>,
    /// Leave out the header line.
    #[arg(short = 'n', long)]
    no_headings: bool,
}

/// One row: a lock and one of its holders (or none known).
struct Row<'a> {
    lock: &'a SystemLock,
    pid: Option<u32>,
    info: Option<ProcessInfo>,
    record: Option<Record>,
}

/// What the locked file says of its owner.
enum Record {
    LockFile(lockfile::Owner),
    PidFile(u32),
}

#[inline(never)]
pub fn main(args: Args) -> u8 {
    let locks = match system_locks() {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "pidward locks: /proc/locks: {e}");
            return 1;
        }
    };
    let mut rows = Vec::new();
    for lock in &locks {
        if let Some(want) = args.pid
            && lock.pid != Some(want)
            && !lock.holders.contains(&want)
        {
            continue;
        }
        // The process /proc/locks names while it still holds the lock, else a holder.
        let pid = match lock.pid {
            Some(p) if lock.blocked || lock.holders.contains(&p) => Some(p),
            other => lock.holders.first().copied().or(other),
        };
        rows.push(Row {
            lock,
            pid,
            info: pid.and_then(|p| ProcessInfo::of(p).ok()),
            record: lock.path.as_deref().and_then(record),
        });
    }
    let written = if args.json {
        let objects: Vec<serde_json::Value> = rows.iter().map(json).collect();
        writeln!(
            std::io::stdout(),
            "{}",
            serde_json::json!({ "locks": objects })
        )
    } else if rows.is_empty() {
        Ok(())
    } else {
        let mut table = Table::new(&[
            "PID", "TYPE", "MODE", "START", "END", "PATH", "UP", "RECORD", "COMMAND",
        ]);
        for row in &rows {
            table.push(cells(row));
        }
        table.print(!args.no_headings)
    };
    if let Err(e) = written {
        let _ = writeln!(
            std::io::stderr(),
            "pidward locks: cannot write to standard output: {e}"
        );
    }
    0
}

/// The record of the file at `path`: a lock file's owner, else a PID file's PID.
fn record(path: &Path) -> Option<Record> {
    if let Ok(Some(owner)) = lockfile::read(path) {
        return Some(Record::LockFile(owner));
    }
    pidfile::read(path).ok().map(Record::PidFile)
}

fn mode(lock: &SystemLock) -> String {
    if lock.blocked {
        format!("{}*", lock.mode)
    } else {
        lock.mode.clone()
    }
}

fn cells(row: &Row<'_>) -> Vec<Cell> {
    let lock = row.lock;
    let record = match &row.record {
        Some(Record::LockFile(o)) => format!("{} on {} since {}", o.pid, o.host, {
            pidward::time::Rfc3339(o.time)
        }),
        Some(Record::PidFile(pid)) => format!("pid {pid}"),
        None => "-".to_owned(),
    };
    // A record that names someone else than the holder is worth a second look.
    let record_colour = match (&row.record, row.pid) {
        (Some(Record::PidFile(p)), Some(h)) if *p != h => Some(Colour::Yellow),
        (Some(Record::LockFile(o)), Some(h)) if o.pid != h => Some(Colour::Yellow),
        _ => None,
    };
    vec![
        Cell::plain(row.pid.map_or("-1".to_owned(), |p| p.to_string())),
        Cell::plain(lock.kind.clone()),
        if lock.blocked {
            Cell::coloured(mode(lock), Colour::Yellow)
        } else {
            Cell::plain(mode(lock))
        },
        Cell::plain(lock.start.to_string()),
        Cell::plain(lock.end.map_or("EOF".to_owned(), |e| e.to_string())),
        Cell::plain(
            lock.path
                .as_ref()
                .map_or("-".to_owned(), |p| p.display().to_string()),
        ),
        Cell::plain(row.info.as_ref().map_or("-".to_owned(), |i| {
            pidward::time::Human(i.uptime()).to_string()
        })),
        match record_colour {
            Some(c) => Cell::coloured(record, c),
            None => Cell::plain(record),
        },
        Cell::plain(
            row.info
                .as_ref()
                .map_or("(undefined)".to_owned(), ProcessInfo::command_line),
        ),
    ]
}

fn json(row: &Row<'_>) -> serde_json::Value {
    let lock = row.lock;
    let size = lock
        .path
        .as_ref()
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.size());
    let command = row.pid.and_then(|p| {
        std::fs::read_to_string(format!("/proc/{p}/comm"))
            .ok()
            .map(|c| c.trim_end_matches('\n').to_owned())
    });
    let record = match &row.record {
        Some(Record::LockFile(o)) => serde_json::json!({
            "kind": "lockfile",
            "pid": o.pid,
            "host": o.host,
            "time": pidward::time::Rfc3339(o.time).to_string(),
        }),
        Some(Record::PidFile(pid)) => serde_json::json!({ "kind": "pidfile", "pid": pid }),
        None => serde_json::Value::Null,
    };
    let info = row.info.as_ref();
    serde_json::json!({
        "command": command.unwrap_or_else(|| "(undefined)".to_owned()),
        "pid": row.pid.map_or(-1, i64::from),
        "type": lock.kind,
        "size": size,
        "mode": mode(lock),
        "m": lock.mandatory,
        "start": lock.start,
        "end": lock.end.unwrap_or(0),
        "path": lock.path.as_ref().map(|p| p.display().to_string()),
        "inode": lock.ino,
        "maj:min": format!(
            "{}:{}",
            libc::major(lock.dev as libc::dev_t),
            libc::minor(lock.dev as libc::dev_t)
        ),
        "blocked": lock.blocked,
        "holders": lock.holders,
        "cmdline": info.map(|i| i.cmdline.clone()),
        "start_time": info.map(|i| pidward::time::Rfc3339(i.start_time()).to_string()),
        "uptime_seconds": info.map(|i| i.uptime().as_secs_f64()),
        "record": record,
    })
}
