//! The lifecycle log of `pidward run`, from its options: destinations made absolute against
//! the caller's directory, opened before anything else is created (a bad one is exit 125,
//! naming it), with the command's base name as the default tag.

use std::path::Path;

use pidward::log::{Dest, LifecycleLog, Log};
use pidward::supervise::Policy;

use super::{Failure, Options};

/// Opens the destinations of `--log` (when none is given: stderr for a supervisor in the
/// foreground, none when detached or with --exec).
pub fn open(args: &Options, cwd: &Path) -> Result<LifecycleLog, Failure> {
    let a = &args.logging;
    let dests: Vec<Dest> = if a.log.is_empty() {
        // A detached supervisor's stderr is the command's file (or /dev/null): its life
        // does not belong in the service's output. With --exec there is no supervisor.
        vec![if args.daemon || args.exec {
            Dest::None
        } else {
            Dest::Stderr
        }]
    } else {
        a.log
            .iter()
            .map(|d| match d {
                Dest::File(p) => Dest::File(cwd.join(p)),
                other => other.clone(),
            })
            .collect()
    };
    let tag = match &a.tag {
        Some(t) => t.clone(),
        None => Path::new(&args.command[0])
            .file_name()
            .map_or_else(|| "pidward".into(), |n| n.to_string_lossy().into_owned()),
    };
    let log = Log::open(&dests, a.log_mode)
        .map_err(|e| Failure::setup(format!("log {e}")))?
        .format(a.log_format)
        .level(a.log_level)
        .tag(tag);
    Ok(LifecycleLog::new(log).reset_after(args.restart_reset))
}

/// The restart policy as `--restart` spells it.
pub fn policy_name(policy: Policy) -> String {
    match policy {
        Policy::No => "no".into(),
        Policy::OnFailure => "on-failure".into(),
        Policy::Always => "always".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The command line, for the `start` event.
pub fn command_line(args: &Options) -> String {
    args.command
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
