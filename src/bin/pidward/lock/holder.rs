//! Who holds the lock, for the message a person reads when `pidward lock` cannot get it:
//! "PID 1234 (sleep 100), running for 3m04s", from `/proc/locks` (flock(2)), `fdinfo` (byte
//! ranges) and `/proc/PID`.

use std::os::fd::BorrowedFd;

use pidward::flock::{Kind, Mode, holders, range_holders};
use pidward::liveness::ProcessInfo;
use pidward::time::Human;

/// "PID 1234 (sleep 100), running for 12s", for every process that holds a lock in the way
/// of a `mode` lock of `kind` on the file `fd` is open on.
pub fn describe(fd: BorrowedFd<'_>, kind: Kind, mode: Mode) -> String {
    let Ok(meta) = rustix::fs::fstat(fd) else {
        return "another process".into();
    };
    let me = std::process::id();
    let infos: Vec<(u32, Option<ProcessInfo>)> = match kind {
        Kind::Ofd(range) => range_holders(meta.st_dev, meta.st_ino, mode, range),
        _ => holders(meta.st_dev, meta.st_ino),
    }
    .unwrap_or_default()
    .into_iter()
    .filter(|&p| p != me)
    .map(|pid| (pid, ProcessInfo::of(pid).ok()))
    .collect();
    // A range lock shows under every process sharing its description: name the one that
    // took it, not the children that inherited it.
    let parent_listed = |info: &ProcessInfo| infos.iter().any(|(pid, _)| *pid == info.ppid);
    let named: Vec<String> = infos
        .iter()
        .filter(|(_, info)| !info.as_ref().is_some_and(parent_listed))
        .map(|(pid, info)| match info {
            Some(info) => format!(
                "PID {pid} ({}), running for {}",
                printable(&info.command_line(), 120),
                Human(info.uptime())
            ),
            None => format!("PID {pid}"),
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
