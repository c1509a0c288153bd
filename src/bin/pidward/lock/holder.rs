//! Who holds the lock, for the message a person reads when `pidward lock` cannot get it:
//! "PID 1234 (sleep 100), running for 3m04s", from `/proc/locks` and `/proc/PID`.

use std::os::fd::BorrowedFd;

use pidward::flock::holders;
use pidward::liveness::ProcessInfo;
use pidward::time::Human;

/// "PID 1234 (sleep 100), running for 12s", for every holder `/proc/locks` names.
pub fn describe(fd: BorrowedFd<'_>) -> String {
    let Ok(meta) = rustix::fs::fstat(fd) else {
        return "another process".into();
    };
    let pids = holders(meta.st_dev, meta.st_ino).unwrap_or_default();
    let me = std::process::id();
    let named: Vec<String> = pids
        .into_iter()
        .filter(|&p| p != me)
        .map(|pid| match ProcessInfo::of(pid) {
            Ok(info) => format!(
                "PID {pid} ({}), running for {}",
                printable(&info.command_line(), 120),
                Human(info.uptime())
            ),
            Err(_) => format!("PID {pid}"),
        })
        .collect();
    match named.len() {
        0 => "another process".into(),
        _ => named.join("; "),
    }
}

/// At most `max` characters, control characters shown as `?`.
fn printable(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}
