//! The fast path of the command line: the hot forms of `pidward run` and `pidward status`,
//! parsed without clap.
//!
//! clap parses with a `Command` it builds first, every option with its help text; for `run`
//! that is most of the start-up work of the whole program, and for `status` more than half of
//! what `status` itself does (callgrind, docs/benchmarks.md). The forms a container entry
//! point, a cron line, an init script or a monitoring check use are few and plain:
//!
//! ```text
//! pidward run [-d|--daemon] [--exec] [--oknodo] [-p|--pidfile PATH] [-l|--log DEST]... [--] COMMAND [ARGS...]
//! pidward status [--json] [-n|--no-headings] PIDFILE
//! ```
//!
//! with `--pidfile=PATH` and `--log=DEST` too, and `status`'s flags before or after the file.
//! [`parse`] reads exactly those, each at most once (`--log` repeatable), and fills every
//! other option with its default, parsed by the same function from the same text clap uses
//! ([`run::args::defaults`]). It declines (returns `None`) everything else: any other option,
//! a value that is empty, starts with `-` or is not UTF-8, a repeated option, a missing
//! command or file, more than one file, a value that does not parse. clap then parses as it
//! always did, so help, errors and every other form are clap's own.
//!
//! A declined vector costs a few comparisons. That the fast path agrees with clap wherever it
//! does not decline is checked by `pidward __agree ARGS...` (test helpers only), which parses
//! with both and compares the results, over many vectors (tests/fast_args.rs).

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cli::Parsed;
use crate::run::args::{self, Options, defaults};
use crate::run::log_args::{self, LogArgs};

/// The arguments (the program's name first) parsed the way clap would, or `None` where the
/// fast path does not know the form (see the module header).
pub fn parse(args: &[OsString]) -> Option<Parsed> {
    match args.get(1)?.to_str()? {
        "run" => run(&args[2..]).map(|options| {
            Parsed::Run(crate::run::Args {
                options: Box::new(options),
            })
        }),
        "status" => status(&args[2..]).map(Parsed::Status),
        _ => None,
    }
}

/// `run`'s hot forms.
fn run(args: &[OsString]) -> Option<Options> {
    let mut options = run_defaults()?;
    let (mut daemon, mut exec, mut oknodo) = (false, false, false);
    let mut i = 0;
    let command_at = loop {
        let arg = args.get(i)?.to_str()?;
        i += 1;
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg, None),
        };
        match name {
            "--" => break i,
            "-d" | "--daemon" if inline.is_none() => once(&mut daemon)?,
            "--exec" if inline.is_none() => once(&mut exec)?,
            "--oknodo" if inline.is_none() => once(&mut oknodo)?,
            "-p" | "--pidfile" if options.pidfile.is_none() => {
                options.pidfile = Some(value(args, &mut i, inline)?.into());
            }
            "-l" | "--log" => {
                let dest = log_args::parse_dest(value(args, &mut i, inline)?).ok()?;
                options.logging.log.push(dest);
            }
            _ if arg.starts_with('-') => return None,
            _ => break i - 1,
        }
    };
    if command_at >= args.len() {
        return None;
    }
    options.daemon = daemon;
    options.exec = exec;
    options.oknodo = oknodo;
    options.command = args[command_at..].to_vec();
    Some(options)
}

/// `status`'s hot form: one PID file (or directory), with `--json` and `-n`/`--no-headings`
/// at most once each, before or after it.
fn status(args: &[OsString]) -> Option<crate::status::Args> {
    let (mut json, mut no_headings, mut pidfile) = (false, false, None);
    for arg in args {
        match arg.to_str()? {
            "--json" => once(&mut json)?,
            "-n" | "--no-headings" => once(&mut no_headings)?,
            a if a.is_empty() || a.starts_with('-') || pidfile.is_some() => return None,
            a => pidfile = Some(PathBuf::from(a)),
        }
    }
    Some(crate::status::Args {
        json,
        no_headings,
        pidfile: pidfile?,
        more: Vec::new(),
    })
}

/// The value of an option that takes one: `inline` (after `=`), or the next argument (then
/// `i` moves past it). `None` (decline) if it is missing, empty, not UTF-8 or starts with `-`
/// (where clap would take it for an option or refuse it).
fn value<'a>(args: &'a [OsString], i: &mut usize, inline: Option<&'a str>) -> Option<&'a str> {
    let v = match inline {
        Some(v) => v,
        None => {
            *i += 1;
            args.get(*i - 1)?.to_str()?
        }
    };
    (!v.is_empty() && !v.starts_with('-')).then_some(v)
}

/// Sets a flag that was not set before; `None` (decline) if it was.
fn once(flag: &mut bool) -> Option<()> {
    (!*flag).then(|| *flag = true)
}

/// `run`'s options with nothing given: every default parsed from its text.
fn run_defaults() -> Option<Options> {
    Some(Options {
        daemon: false,
        exec: false,
        pidfile: None,
        oknodo: false,
        child_pidfile: None,
        user: None,
        group: None,
        chroot: None,
        chdir: None,
        umask: None,
        output: None,
        stdout: None,
        stderr: None,
        output_mode: args::parse_umask(defaults::OUTPUT_MODE).ok()?,
        env: Vec::new(),
        env_file: Vec::new(),
        clear_env: false,
        rlimit: Vec::new(),
        ready: None,
        ready_interval: args::parse_seconds(defaults::READY_INTERVAL).ok()?,
        ready_timeout: args::parse_seconds(defaults::READY_TIMEOUT).ok()?,
        follow_pidfile: None,
        parent_death_signal: args::parse_death_signal(defaults::PARENT_DEATH_SIGNAL).ok()?,
        restart: args::parse_policy(defaults::RESTART).ok()?,
        success_status: None,
        restart_prevent: None,
        remap_exit: Vec::new(),
        restart_limit: None,
        watchdog: None,
        watchdog_signal: args::parse_signal(defaults::WATCHDOG_SIGNAL).ok()?,
        restart_delay: args::parse_seconds(defaults::RESTART_DELAY).ok()?,
        restart_max_delay: args::parse_seconds(defaults::RESTART_MAX_DELAY).ok()?,
        restart_jitter: args::parse_fraction(defaults::RESTART_JITTER).ok()?,
        restart_reset: args::parse_seconds(defaults::RESTART_RESET).ok()?,
        stop_schedule: args::parse_schedule(defaults::STOP_SCHEDULE).ok()?,
        kill_mode: args::parse_kill_mode(defaults::KILL_MODE).ok()?,
        logging: LogArgs {
            log: Vec::new(),
            log_mode: args::parse_umask(defaults::LOG_MODE).ok()?,
            log_format: None,
            log_level: log_args::parse_level(defaults::LOG_LEVEL).ok()?,
            tag: None,
            output_max: None,
            output_timestamps: false,
            reopen_on: None,
        },
        signal_group: false,
        rewrite_signal: Vec::new(),
        command: Vec::new(),
    })
}
