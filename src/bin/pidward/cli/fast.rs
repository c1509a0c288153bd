//! The fast path of the command line: `pidward run` and the plain form of `pidward status`,
//! parsed without clap.
//!
//! clap parses with a `Command` it builds first, every option with its help text: for `run`,
//! about 80k instructions, 70 kB of heap and seven pages of stack at every start, which a
//! supervisor keeps resident for its whole life (callgrind and smaps, docs/benchmarks.md);
//! for `status`, more than half of what `status` itself does. What is parsed here:
//!
//! ```text
//! pidward run [OPTION...] [--] COMMAND [ARGS...]
//! pidward status [--json] [-n|--no-headings] PIDFILE
//! ```
//!
//! `run` takes every one of its options ([`OPTIONS`]), as `--long VALUE`, `--long=VALUE` or
//! `-s VALUE`, each set by the same function clap's derive calls for it (the `parse_*`
//! functions of run/args.rs and run/log_args.rs, or the type's `FromStr`), and every option
//! not given gets the value of the text clap parses for it ([`crate::run::args::defaults`]),
//! built directly ([`run_defaults`]).
//! `status` takes one file and its two flags, before or after it.
//!
//! It declines (returns `None`) everything else, and clap then parses as it always did, so
//! help, version, errors and every unusual form are clap's own: an option it does not know
//! (`-h`, `--help`, `-V`), short options run together (`-dp F`) or with their value attached
//! (`-pF`), a value that is empty, starts with `-` or is not UTF-8, a value its function
//! refuses, an option clap takes once given twice, a flag given a value, a missing command or
//! file, two options clap refuses together ([`CONFLICTS`]).
//!
//! A declined vector costs a few comparisons. That the fast path agrees with clap wherever it
//! does not decline is checked by `pidward __agree ARGS...` (test helpers only), which parses
//! with both and compares the results, over many vectors (tests/fast_args.rs).

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cli::Parsed;
use crate::run::args::{self, Options};
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

/// Sets one option's field from its value; `None` (decline) where the value does not parse.
type Setter = fn(&mut Options, &str) -> Option<()>;

/// How `run` takes one of its options.
#[derive(Clone, Copy)]
enum Take {
    /// A flag: no value, at most once.
    Flag(fn(&mut Options)),
    /// A value, at most once (clap refuses a second).
    Once(Setter),
    /// A value each time it is given (a `Vec` field).
    Many(Setter),
}

/// One option of `run`: its short name (if any), its long name, and how it is taken, by the
/// same parsing function clap's derive calls for it.
struct Opt {
    short: Option<&'static str>,
    long: &'static str,
    take: Take,
}

const fn flag(short: Option<&'static str>, long: &'static str, set: fn(&mut Options)) -> Opt {
    let take = Take::Flag(set);
    Opt { short, long, take }
}

const fn once(short: Option<&'static str>, long: &'static str, set: Setter) -> Opt {
    let take = Take::Once(set);
    Opt { short, long, take }
}

const fn many(short: Option<&'static str>, long: &'static str, set: Setter) -> Opt {
    let take = Take::Many(set);
    Opt { short, long, take }
}

/// Sets `slot` to the parsed value; `None` (decline) where the value did not parse.
fn put<T>(slot: &mut T, value: Option<T>) -> Option<()> {
    *slot = value?;
    Some(())
}

/// [`put`] for an optional field.
fn put_some<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
    *slot = Some(value?);
    Some(())
}

/// Adds the parsed value to a repeatable option's list; `None` (decline) where it did not
/// parse.
fn push<T>(list: &mut Vec<T>, value: Option<T>) -> Option<()> {
    list.push(value?);
    Some(())
}

/// `T::from_str` as clap's `value_parser!(T)` calls it; `None` (decline) where it fails.
fn from_str<T: std::str::FromStr>(v: &str) -> Option<T> {
    v.parse().ok()
}

/// Every option of `run` (src/bin/pidward/run/args.rs and log_args.rs), each set through the
/// parsing function clap uses. Not here, so left to clap: `-h`/`--help`, `-V`/`--version`.
const OPTIONS: &[Opt] = &[
    flag(Some("-d"), "--daemon", |o| o.daemon = true),
    flag(None, "--exec", |o| o.exec = true),
    once(Some("-p"), "--pidfile", |o, v| {
        put_some(&mut o.pidfile, Some(v.into()))
    }),
    flag(None, "--oknodo", |o| o.oknodo = true),
    once(None, "--child-pidfile", |o, v| {
        put_some(&mut o.child_pidfile, Some(v.into()))
    }),
    once(Some("-u"), "--user", |o, v| {
        put_some(&mut o.user, Some(v.to_owned()))
    }),
    once(Some("-g"), "--group", |o, v| {
        put_some(&mut o.group, Some(v.to_owned()))
    }),
    once(None, "--chroot", |o, v| {
        put_some(&mut o.chroot, Some(v.into()))
    }),
    once(Some("-C"), "--chdir", |o, v| {
        put_some(&mut o.chdir, Some(v.into()))
    }),
    once(None, "--umask", |o, v| {
        put_some(&mut o.umask, args::parse_umask(v).ok())
    }),
    once(Some("-o"), "--output", |o, v| {
        put_some(&mut o.output, log_args::parse_dest(v).ok())
    }),
    once(None, "--stdout", |o, v| {
        put_some(&mut o.stdout, log_args::parse_dest(v).ok())
    }),
    once(None, "--stderr", |o, v| {
        put_some(&mut o.stderr, log_args::parse_dest(v).ok())
    }),
    once(None, "--output-mode", |o, v| {
        put(&mut o.output_mode, args::parse_umask(v).ok())
    }),
    many(Some("-e"), "--env", |o, v| {
        push(&mut o.env, crate::run::env::parse_pair(v).ok())
    }),
    many(None, "--env-file", |o, v| {
        push(&mut o.env_file, Some(v.into()))
    }),
    flag(None, "--clear-env", |o| o.clear_env = true),
    many(None, "--rlimit", |o, v| push(&mut o.rlimit, from_str(v))),
    once(None, "--ready", |o, v| put_some(&mut o.ready, from_str(v))),
    once(None, "--ready-interval", |o, v| {
        put(&mut o.ready_interval, args::parse_seconds(v).ok())
    }),
    once(None, "--ready-timeout", |o, v| {
        put(&mut o.ready_timeout, args::parse_seconds(v).ok())
    }),
    once(None, "--follow-pidfile", |o, v| {
        put_some(&mut o.follow_pidfile, Some(v.into()))
    }),
    once(None, "--parent-death-signal", |o, v| {
        put(&mut o.parent_death_signal, args::parse_death_signal(v).ok())
    }),
    once(None, "--restart", |o, v| {
        put(&mut o.restart, args::parse_policy(v).ok())
    }),
    once(None, "--success-status", |o, v| {
        put_some(&mut o.success_status, args::parse_exit_set(v).ok())
    }),
    once(None, "--restart-prevent", |o, v| {
        put_some(&mut o.restart_prevent, args::parse_exit_set(v).ok())
    }),
    many(None, "--remap-exit", |o, v| {
        push(&mut o.remap_exit, from_str(v))
    }),
    once(None, "--restart-limit", |o, v| {
        put_some(&mut o.restart_limit, args::parse_limit(v).ok())
    }),
    once(None, "--watchdog", |o, v| {
        put_some(&mut o.watchdog, args::parse_seconds(v).ok())
    }),
    once(None, "--watchdog-signal", |o, v| {
        put(&mut o.watchdog_signal, args::parse_signal(v).ok())
    }),
    once(None, "--restart-delay", |o, v| {
        put(&mut o.restart_delay, args::parse_seconds(v).ok())
    }),
    once(None, "--restart-max-delay", |o, v| {
        put(&mut o.restart_max_delay, args::parse_seconds(v).ok())
    }),
    once(None, "--restart-jitter", |o, v| {
        put(&mut o.restart_jitter, args::parse_fraction(v).ok())
    }),
    once(None, "--restart-reset", |o, v| {
        put(&mut o.restart_reset, args::parse_seconds(v).ok())
    }),
    once(None, "--stop-schedule", |o, v| {
        put(&mut o.stop_schedule, args::parse_schedule(v).ok())
    }),
    once(None, "--kill-mode", |o, v| {
        put(&mut o.kill_mode, args::parse_kill_mode(v).ok())
    }),
    flag(None, "--signal-group", |o| o.signal_group = true),
    many(None, "--rewrite-signal", |o, v| {
        push(&mut o.rewrite_signal, args::parse_rewrite(v).ok())
    }),
    many(Some("-l"), "--log", |o, v| {
        push(&mut o.logging.log, log_args::parse_dest(v).ok())
    }),
    once(None, "--log-mode", |o, v| {
        put(&mut o.logging.log_mode, args::parse_umask(v).ok())
    }),
    once(None, "--log-format", |o, v| {
        put_some(&mut o.logging.log_format, log_args::parse_format(v).ok())
    }),
    once(None, "--log-level", |o, v| {
        put(&mut o.logging.log_level, log_args::parse_level(v).ok())
    }),
    once(Some("-T"), "--tag", |o, v| {
        put_some(&mut o.logging.tag, Some(v.to_owned()))
    }),
    once(None, "--output-max", |o, v| {
        put_some(&mut o.logging.output_max, log_args::parse_rotation(v).ok())
    }),
    flag(None, "--output-timestamps", |o| {
        o.logging.output_timestamps = true
    }),
    once(None, "--reopen-on", |o, v| {
        put_some(&mut o.logging.reopen_on, args::parse_signal(v).ok())
    }),
];

/// Pairs of options clap refuses together (`conflicts_with` in args.rs).
const CONFLICTS: &[(&str, &str)] = &[
    ("--output", "--stdout"),
    ("--output", "--stderr"),
    ("--follow-pidfile", "--ready"),
];

/// `run`: every option in [`OPTIONS`], in any order, before the command.
fn run(args: &[OsString]) -> Option<Options> {
    const _: () = assert!(OPTIONS.len() <= 64, "one bit of `given` an option");
    let mut options = run_defaults();
    let mut given: u64 = 0;
    let mut i = 0;
    let command_at = loop {
        let arg = args.get(i)?.to_str()?;
        i += 1;
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg, None),
        };
        if name == "--" {
            break i;
        }
        if !name.starts_with('-') {
            break i - 1;
        }
        let at = OPTIONS
            .iter()
            .position(|o| o.long == name || o.short == Some(name))?;
        let bit = 1u64 << at;
        match OPTIONS[at].take {
            Take::Flag(set) => {
                if inline.is_some() || given & bit != 0 {
                    return None;
                }
                set(&mut options);
            }
            Take::Once(set) => {
                if given & bit != 0 {
                    return None;
                }
                set(&mut options, value(args, &mut i, inline)?)?;
            }
            Take::Many(set) => set(&mut options, value(args, &mut i, inline)?)?,
        }
        given |= bit;
    };
    if command_at >= args.len() {
        return None;
    }
    let has = |long: &str| {
        OPTIONS
            .iter()
            .position(|o| o.long == long)
            .is_some_and(|at| given & (1 << at) != 0)
    };
    if CONFLICTS.iter().any(|(a, b)| has(a) && has(b)) {
        return None;
    }
    options.command = args[command_at..].to_vec();
    Some(options)
}

/// `status`'s hot form: one PID file (or directory), with `--json` and `-n`/`--no-headings`
/// at most once each, before or after it.
fn status(args: &[OsString]) -> Option<crate::status::Args> {
    let (mut json, mut no_headings, mut pidfile) = (false, false, None);
    for arg in args {
        match arg.to_str()? {
            "--json" => set_once(&mut json)?,
            "-n" | "--no-headings" => set_once(&mut no_headings)?,
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
fn set_once(flag: &mut bool) -> Option<()> {
    (!*flag).then(|| *flag = true)
}

/// `run`'s options with nothing given: each default as the value its text in
/// [`crate::run::args::defaults`] parses to, built directly. Parsing the texts at every start
/// ran the float parser, the schedule and signal parsers and their tables on the path of every
/// `pidward run` (docs/benchmarks.md, "Start-up: the read-only data first…"); that the
/// values are the texts' is checked by `pidward __agree`, which compares them with clap's
/// parse of the texts (tests/fast_args.rs).
fn run_defaults() -> Options {
    use pidward::Signal;
    use std::time::Duration;
    Options {
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
        output_mode: 0o640,
        env: Vec::new(),
        env_file: Vec::new(),
        clear_env: false,
        rlimit: Vec::new(),
        ready: None,
        ready_interval: Duration::from_millis(500),
        ready_timeout: Duration::from_secs(60),
        follow_pidfile: None,
        parent_death_signal: args::DeathSignal(Some(Signal::KILL)),
        restart: args::RestartPolicy(pidward::supervise::Policy::No),
        success_status: None,
        restart_prevent: None,
        remap_exit: Vec::new(),
        restart_limit: None,
        watchdog: None,
        watchdog_signal: Signal::ABRT,
        restart_delay: Duration::from_secs(1),
        restart_max_delay: Duration::from_secs(60),
        restart_jitter: 0.1,
        restart_reset: Duration::from_secs(10),
        stop_schedule: pidward::stop::Schedule::timeout(Signal::TERM, Duration::from_secs(5)),
        kill_mode: pidward::supervise::KillMode::Tree,
        logging: LogArgs {
            log: Vec::new(),
            log_mode: 0o640,
            log_format: None,
            log_level: pidward::log::Level::Info,
            tag: None,
            output_max: None,
            output_timestamps: false,
            reopen_on: None,
        },
        signal_group: false,
        rewrite_signal: Vec::new(),
        command: Vec::new(),
    }
}

/// How the table differs from `run`'s options as clap has them (the same names, each taken
/// the same way: a flag, once, or any number of times); empty when it does not. An option
/// added to run/args.rs and not to [`OPTIONS`] is declined, never misread; this names it.
/// `pidward __agree __table` prints it (tests/fast_args.rs).
#[cfg(feature = "test-helpers")]
pub fn table_differences() -> Vec<String> {
    use clap::ArgAction;
    let cmd = <crate::run::Args as clap::Args>::augment_args(clap::Command::new("run"));
    let mut out = Vec::new();
    let mut seen = 0;
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else {
            continue; // the command itself
        };
        let long = format!("--{long}");
        let Some(opt) = OPTIONS.iter().find(|o| o.long == long) else {
            out.push(format!("{long} is not in the table"));
            continue;
        };
        seen += 1;
        let short = arg.get_short().map(|s| format!("-{s}"));
        if opt.short != short.as_deref() {
            out.push(format!(
                "{long}: short {:?} here, {short:?} in clap",
                opt.short
            ));
        }
        let kind = match opt.take {
            Take::Flag(_) => "a flag",
            Take::Once(_) => "a value once",
            Take::Many(_) => "values",
        };
        let clap_kind = match arg.get_action() {
            ArgAction::SetTrue => "a flag",
            ArgAction::Set => "a value once",
            ArgAction::Append => "values",
            _ => "something else",
        };
        if kind != clap_kind {
            out.push(format!("{long}: takes {kind} here, {clap_kind} in clap"));
        }
    }
    if seen != OPTIONS.len() {
        out.push(format!(
            "{} options here are not clap's",
            OPTIONS.len() - seen
        ));
    }
    out
}
