//! The logs of `pidward run`, from its options: the lifecycle log and the output relay.
//!
//! Destinations are made absolute against the caller's directory and opened before anything
//! else is created (a bad one is exit 125, naming it, and takes back the files the others
//! created); the command's base name is the default tag.
//!
//! Each of the command's streams goes one of two ways. The fast path (the default for a
//! file): the command's descriptor is the file itself, `O_APPEND` (no copy,
//! `copytruncate`-safe), opened anew at each start; the path is checked here once (opened,
//! and removed again if that created it). The relay (`--output-max`, `--output-timestamps`,
//! a syslog or journal DEST): the command writes to a pipe that pidward moves to the
//! destination ([`pidward::log::Relay`]). `none` is `/dev/null`, `stderr` pidward's own.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use pidward::child::Stdio;
use pidward::log::{Dest, LifecycleLog, Log, Relay, RelayOptions, Streams};

use super::log_args::LogArgs;
use super::{Failure, Options, Plan};

/// Where stdout and stderr go, if anywhere else than pidward's own (`-o` for both).
pub fn output_dests(args: &Options) -> (Option<&Dest>, Option<&Dest>) {
    match &args.output {
        Some(both) => (Some(both), Some(both)),
        None => (args.stdout.as_ref(), args.stderr.as_ref()),
    }
}

/// Whether a stream to `dest` goes through the relay.
fn relayed(a: &LogArgs, dest: &Dest) -> bool {
    match dest {
        Dest::File(_) => a.output_max.is_some() || a.output_timestamps,
        Dest::Stderr => a.output_timestamps,
        Dest::None => false,
        _ => true,
    }
}

/// `dest` with a file's path made absolute.
fn absolute(dest: &Dest, cwd: &Path) -> Dest {
    match dest {
        Dest::File(p) => Dest::File(cwd.join(p)),
        other => other.clone(),
    }
}

/// Opens the destinations of `--log` (when none is given: stderr for a supervisor in the
/// foreground, none when detached or with --exec), checks the fast path's output files and
/// opens the relay's.
pub fn open(args: &Options, cwd: &Path) -> Result<LifecycleLog, Failure> {
    let a = &args.logging;
    let routes = relay_routes(args, cwd)?;
    let dests: Vec<Dest> = if a.log.is_empty() {
        // A detached supervisor's stderr is the command's file (or /dev/null): its life
        // does not belong in the service's output. With --exec there is no supervisor.
        vec![if args.daemon || args.exec {
            Dest::None
        } else {
            Dest::Stderr
        }]
    } else {
        a.log.iter().map(|d| absolute(d, cwd)).collect()
    };
    let tag = match &a.tag {
        Some(t) => t.clone(),
        None => Path::new(&args.command[0])
            .file_name()
            .map_or_else(|| "pidward".into(), |n| n.to_string_lossy().into_owned()),
    };
    let log = Log::open(&dests, a.log_mode).map_err(|e| Failure::setup(format!("log {e}")))?;
    if let Err(f) = check_fast_files(args, cwd) {
        log.discard();
        return Err(f);
    }
    let log = log.format(a.log_format).level(a.log_level).tag(tag.clone());
    let mut life = LifecycleLog::new(log)
        .reset_after(args.restart_reset)
        .reopen_on(a.reopen_on);
    if !routes.is_empty() {
        let opts = RelayOptions {
            rotation: a.output_max,
            timestamps: a.output_timestamps,
            mode: args.output_mode,
            tag,
        };
        let names: Vec<&str> = routes.iter().map(|(s, _)| s.name()).collect();
        match Relay::open(&routes, opts) {
            Ok(relay) => life = life.relay(relay),
            Err(e) => {
                // The route that failed is the first whose destination the error names.
                let name = routes
                    .iter()
                    .zip(&names)
                    .find(|((_, d), _)| e.dest == d.to_string())
                    .map_or("output", |(_, n)| n);
                life.discard();
                return Err(Failure::setup(format!("{name} {e}")));
            }
        }
    }
    Ok(life)
}

/// The relay's routes, after the checks of the options that only make sense with it.
fn relay_routes(args: &Options, cwd: &Path) -> Result<Vec<(Streams, Dest)>, Failure> {
    let a = &args.logging;
    let (out, err) = output_dests(args);
    let out = out.filter(|d| relayed(a, d)).map(|d| absolute(d, cwd));
    let err = err.filter(|d| relayed(a, d)).map(|d| absolute(d, cwd));
    let routes = match (out, err) {
        (Some(o @ Dest::File(_)), Some(e)) if o == e => vec![(Streams::Both, o)],
        (o, e) => o
            .map(|d| (Streams::Stdout, d))
            .into_iter()
            .chain(e.map(|d| (Streams::Stderr, d)))
            .collect(),
    };
    let files = routes.iter().any(|(_, d)| matches!(d, Dest::File(_)));
    if a.output_max.is_some() && !files {
        return Err(Failure::usage(
            "--output-max rotates an output file: give one with -o, --stdout or --stderr",
        ));
    }
    if args.exec && !routes.is_empty() {
        return Err(Failure::usage(
            "relayed output (--output-max, --output-timestamps, syslog or journal) needs a \
             supervisor, which --exec does without",
        ));
    }
    if args.exec && a.reopen_on.is_some() {
        return Err(Failure::usage(
            "--reopen-on needs a supervisor, which --exec does without",
        ));
    }
    Ok(routes)
}

/// Opens each output file of the fast path as it will be opened for the command, with the
/// checks of a log file (not a directory, a FIFO or a symbolic link); one this created is
/// removed again (the command's start creates it).
fn check_fast_files(args: &Options, cwd: &Path) -> Result<(), Failure> {
    let (out, err) = output_dests(args);
    let mut created: Vec<(PathBuf, std::fs::File)> = Vec::new();
    let mut result = Ok(());
    for (name, dest) in [("stdout", out), ("stderr", err)] {
        let Some(Dest::File(p)) = dest.filter(|d| !relayed(&args.logging, d)) else {
            continue;
        };
        let path = cwd.join(p);
        if created.iter().any(|(c, _)| *c == path) {
            continue;
        }
        match pidward::log::open_output(&path, args.output_mode) {
            Ok(opened) if opened.created => created.push((path, opened.file)),
            Ok(_) => {}
            Err(e) => {
                result = Err(Failure::setup(format!("{name} {}: {e}", path.display())));
                break;
            }
        }
    }
    for (path, file) in created {
        pidward::log::stream::remove_created(&path, &file);
    }
    result
}

/// Stdout and stderr as [`Stdio`] (`None`: not redirected): those of the relay (`relayed`:
/// its pipes), or those of the fast path.
pub fn stdio(plan: &Plan, relayed_ones: bool) -> (Option<Stdio>, Option<Stdio>) {
    let (out, err) = output_dests(&plan.args);
    let a = &plan.args.logging;
    let one = |dest: Option<&Dest>, stream: Streams| -> Option<Stdio> {
        let dest = dest?;
        if relayed(a, dest) != relayed_ones {
            return None;
        }
        if relayed_ones {
            let fd = plan.life.get_relay()?.stdio(stream)?;
            return Some(fd.map_or_else(|_| Stdio::null(), Stdio::from));
        }
        match dest {
            Dest::File(p) => Some(Stdio::append(plan.absolute(p)).mode(plan.args.output_mode)),
            Dest::None => Some(Stdio::null()),
            // pidward's own standard error.
            _ => std::io::stderr()
                .as_fd()
                .try_clone_to_owned()
                .ok()
                .map(Stdio::from),
        }
    };
    (one(out, Streams::Stdout), one(err, Streams::Stderr))
}

/// The command line, for the `start` event.
pub fn command_line(args: &Options) -> String {
    args.command
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
