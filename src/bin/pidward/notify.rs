//! `pidward notify`: the sd_notify client for shell scripts, like `systemd-notify`.
//!
//! ```text
//! pidward notify [--ready] [--status=TEXT] [--pid[=PID]] [--stopping] [--reloading]
//!                [--no-block] [VAR=VALUE]...
//! ```
//!
//! Builds one message from the options (in the order `READY=1`, `RELOADING=1` with
//! `MONOTONIC_USEC=`, `STOPPING=1`, `STATUS=`, `MAINPID=`, then the `VAR=VALUE` arguments) and
//! sends it to `$NOTIFY_SOCKET` (a path or an `@abstract` name) with
//! [`pidward::notify::Notifier`]. Then, unless `--no-block`, it waits up to 5 seconds for the
//! listener to confirm that it read the message (`BARRIER=1`, as `systemd-notify` does), so
//! that the listener can still find this process in the supervised tree when it checks the
//! sender. `--pid` alone names the parent of this command (the calling shell), like
//! `systemd-notify --pid`; `--pid=self` names this command.
//!
//! With `--ready` and `$NOTIFY_FD` set (the notify-fd protocol, `pidward run --ready fd:N`),
//! a newline is also written to that descriptor; if only `NOTIFY_FD` is set, readiness is
//! all that can be sent, and other fields are reported as not delivered.
//!
//! Exit codes: 0 sent (and confirmed, unless `--no-block`); 1 `NOTIFY_SOCKET` unset or
//! malformed, sending failed, or no confirmation in time; 2 usage error (including nothing
//! to send, a `VAR=VALUE` that is not one, and a multi-line value).

use std::time::Duration;

use pidward::notify::{self, NOTIFY_FD, NOTIFY_SOCKET, Notifier};

/// How long to wait for the listener to read the message.
const BARRIER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(clap::Args)]
#[command(after_help = "\
Exit codes: 0 sent (and confirmed, unless --no-block); 1 NOTIFY_SOCKET unset or malformed,
sending failed, or no confirmation in time; 2 usage error (nothing to send, a VAR=VALUE that is
not one, a multi-line value).

Examples:
  pidward notify --ready --status \"listening on :8080\"
  pidward notify --reloading && reload_config && pidward notify --ready
  pidward notify --pid=\"$server_pid\" --ready      # the main process is another one
")]
pub struct Args {
    /// Declare start-up finished: READY=1.
    #[arg(long)]
    ready: bool,

    /// Describe the service's state: STATUS=TEXT (one line).
    #[arg(long, value_name = "TEXT", value_parser = parse_one_line)]
    status: Option<String>,

    /// Name the main process: MAINPID=PID. PID is a number, `parent` (the default when
    /// given without a value: the calling shell) or `self`.
    #[arg(
        long,
        value_name = "PID",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "parent",
        value_parser = parse_pid
    )]
    pid: Option<u32>,

    /// Announce shutdown: STOPPING=1.
    #[arg(long)]
    stopping: bool,

    /// Announce a configuration reload: RELOADING=1 (send --ready when done).
    #[arg(long)]
    reloading: bool,

    /// Do not wait for the listener to confirm that it read the message.
    #[arg(long)]
    no_block: bool,

    /// More fields to send, e.g. ERRNO=98 or EXTEND_TIMEOUT_USEC=30000000.
    #[arg(value_name = "VAR=VALUE", value_parser = parse_field)]
    fields: Vec<String>,
}

#[inline(never)]
pub fn main(args: Args) -> u8 {
    let mut lines = Vec::new();
    if args.ready {
        lines.push("READY=1".to_owned());
    }
    if args.reloading {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let usec = now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1000;
        lines.push("RELOADING=1".to_owned());
        lines.push(format!("MONOTONIC_USEC={usec}"));
    }
    if args.stopping {
        lines.push("STOPPING=1".to_owned());
    }
    if let Some(status) = &args.status {
        lines.push(format!("STATUS={status}"));
    }
    if let Some(pid) = args.pid {
        lines.push(format!("MAINPID={pid}"));
    }
    lines.extend(args.fields.iter().cloned());
    if lines.is_empty() {
        eprintln!(
            "pidward notify: nothing to send (give --ready, --status=TEXT, --pid, --stopping, --reloading or VAR=VALUE)"
        );
        return 2;
    }
    let message = lines.join("\n");

    let notifier = match Notifier::from_env() {
        Ok(notifier) => notifier,
        Err(err) => {
            eprintln!("pidward notify: {err}");
            return 1;
        }
    };
    let Some(notifier) = notifier else {
        return notify_fd_only(args.ready, lines.len());
    };
    if let Err(err) = notifier.send(&message) {
        eprintln!("pidward notify: {err}");
        return 1;
    }
    if args.ready
        && let Err(err) = notify::notify_fd()
    {
        eprintln!("pidward notify: {err}");
        return 1;
    }
    if !args.no_block
        && let Err(err) = notifier.barrier(BARRIER_TIMEOUT)
    {
        eprintln!("pidward notify: the message was sent, but {err} (--no-block skips this wait)");
        return 1;
    }
    0
}

/// No `NOTIFY_SOCKET`: readiness can still go over `NOTIFY_FD`.
fn notify_fd_only(ready: bool, line_count: usize) -> u8 {
    if ready {
        match notify::notify_fd() {
            Ok(true) => {
                if line_count > 1 {
                    eprintln!(
                        "pidward notify: {NOTIFY_SOCKET} is not set; only readiness was sent, over {NOTIFY_FD}"
                    );
                }
                return 0;
            }
            Ok(false) => {}
            Err(err) => {
                eprintln!("pidward notify: {err}");
                return 1;
            }
        }
    }
    eprintln!(
        "pidward notify: {NOTIFY_SOCKET} is not set: no supervisor is listening for notifications"
    );
    1
}

/// `parent`, `self`, or a positive decimal PID.
fn parse_pid(text: &str) -> Result<u32, String> {
    match text {
        "parent" => Ok(std::os::unix::process::parent_id()),
        "self" => Ok(std::process::id()),
        _ => text
            .parse::<u32>()
            .ok()
            .filter(|&pid| pid > 0 && text.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                format!("{text:?} is not a PID (a positive number, `parent` or `self`)")
            }),
    }
}

/// One `KEY=VALUE` line: a key of letters, digits and `_`, and a value without newlines.
fn parse_field(text: &str) -> Result<String, String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not VAR=VALUE"))?;
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "{text:?}: the variable name must be letters, digits and _"
        ));
    }
    parse_one_line(value)?;
    Ok(text.to_owned())
}

/// Rejects text with a newline, which would start another field.
fn parse_one_line(text: &str) -> Result<String, String> {
    if text.contains('\n') {
        return Err(format!("{text:?} must be one line"));
    }
    Ok(text.to_owned())
}
