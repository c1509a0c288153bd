//! The command line: the subcommand named by the first argument, parsed by clap.
//!
//! clap parses with a `Command` built beforehand, every option with its help text, at every
//! start of the program. For the whole tree that is more work than the parse itself, and most
//! of it is for subcommands that are not running: building `run`'s options alone is about
//! two-thirds of it (callgrind, docs/benchmarks.md, "Start-up and memory"). So when the first
//! argument names a subcommand, the root is built with that subcommand only, and clap parses
//! with that. A subcommand's help, usage and errors are rendered from the subcommand itself
//! and its parent's name, so the text is the same byte for byte. Anything else (no argument,
//! an option such as `--help`, `help`, an unknown name, which clap answers with a list or a
//! suggestion) is parsed with the whole tree, as are `completions` and `__man`, which
//! generate from it anyway.
//!
//! [`SUBCOMMANDS`] is the one list of subcommands, in the order `pidward --help` shows them.
//! Each entry reproduces what clap's derive would generate for an enum variant
//! `Name(name::Args)` with a one-line doc comment: the `Args` struct's own settings first,
//! then the variant's one-line description, which replaces the struct's. `lock` is here only
//! so that the help lists it: `main` hands its arguments to `lock::main` before any of this.

use std::ffi::OsString;

use clap::{ArgMatches, Args, FromArgMatches};

use crate::{completions, lock, locks, notify, run, status, stop, version};

mod fast;

/// A subcommand and its parsed arguments.
pub enum Parsed {
    Lock(lock::Args),
    Status(status::Args),
    Stop(stop::Args),
    Run(run::Args),
    Notify(notify::Args),
    Locks(locks::Args),
    Completions(completions::Args),
    #[cfg(feature = "test-helpers")]
    Man(crate::man::Args),
}

/// One subcommand of `pidward`: how to build its clap `Command`.
struct Sub {
    name: &'static str,
    /// The one-line description `pidward --help` lists (and the subcommand's own help shows).
    about: &'static str,
    /// `<name::Args as clap::Args>::augment_args`: its options, help texts and settings.
    augment: fn(clap::Command) -> clap::Command,
    /// Hidden from `pidward --help` (the maintainers' `__man`).
    hide: bool,
    /// Parsed with this subcommand alone (not the generators, which need the whole tree).
    alone: bool,
}

impl Sub {
    const fn new(name: &'static str, about: &'static str, augment: Augment) -> Sub {
        Sub {
            name,
            about,
            augment,
            hide: false,
            alone: true,
        }
    }

    fn build(&self) -> clap::Command {
        (self.augment)(clap::Command::new(self.name))
            .about(self.about)
            .long_about(None)
            .hide(self.hide)
    }
}

type Augment = fn(clap::Command) -> clap::Command;

const SUBCOMMANDS: &[Sub] = &[
    Sub::new(
        "lock",
        "Run a command while holding a file lock (flock(1)-compatible)",
        lock::Args::augment_args,
    ),
    Sub::new(
        "status",
        "Report whether the program named by a PID file is running (LSB exit codes)",
        status::Args::augment_args,
    ),
    Sub::new(
        "stop",
        "Stop the program named by a PID file, following a signal schedule",
        stop::Args::augment_args,
    ),
    Sub::new(
        "run",
        "Start a command: supervise it, detach it, or exec it, with a PID file and readiness",
        run::Args::augment_args,
    ),
    Sub::new(
        "notify",
        "Send a readiness notification (sd_notify protocol) to the supervisor",
        notify::Args::augment_args,
    ),
    Sub::new(
        "locks",
        "List the file locks on this machine, their holders and records (like lslocks)",
        locks::Args::augment_args,
    ),
    Sub {
        alone: false,
        ..Sub::new(
            "completions",
            "Write a shell completion script (bash, zsh, fish) to stdout",
            completions::Args::augment_args,
        )
    },
    #[cfg(feature = "test-helpers")]
    Sub {
        hide: true,
        alone: false,
        ..Sub::new(
            "__man",
            "Write the man pages into a directory (for maintainers)",
            crate::man::Args::augment_args,
        )
    },
];

/// `pidward` itself, without its subcommands.
fn root() -> clap::Command {
    clap::Command::new("pidward")
        .group(
            clap::ArgGroup::new("Cli")
                .multiple(true)
                .args([] as [clap::Id; 0]),
        )
        .subcommand_required(true)
        .arg_required_else_help(true)
        .version(env!("CARGO_PKG_VERSION"))
        .long_version(version::LONG)
        .about("Unix process lifecycle: PID files, locks, start, status, stop")
}

/// The whole tree, as parsed when no single subcommand is named.
fn tree() -> clap::Command {
    root().subcommands(SUBCOMMANDS.iter().map(Sub::build))
}

/// The whole command line with `lock` described by its own option table: what completions
/// and man pages are generated from.
pub fn command() -> clap::Command {
    tree().mut_subcommand("lock", |_| lock::doc::command())
}

/// Parse the arguments (the program's name first); on a usage error, or for `--help` and
/// `--version`, print what clap prints and exit as clap does (2, or 0). `run` and the
/// plain form of `status` are parsed without clap ([`fast`]), to the same result.
pub fn parse(args: Vec<OsString>) -> Parsed {
    if let Some(parsed) = fast::parse(&args) {
        return parsed;
    }
    let (mut cmd, parsed) = clap_parse(args);
    parsed.unwrap_or_else(|e| e.format(&mut cmd).exit())
}

/// What clap makes of the arguments, and the `Command` it parsed them with (which renders
/// its errors). Out of line: the hot forms never call it, and inlined into `main` its 6 kB
/// lay among the code every start runs (docs/benchmarks.md, "Start-up: the read-only data
/// first…").
#[inline(never)]
fn clap_parse(args: Vec<OsString>) -> (clap::Command, Result<Parsed, clap::Error>) {
    let named = args.get(1).and_then(|a| a.to_str());
    let alone = SUBCOMMANDS
        .iter()
        .find(|s| s.alone && Some(s.name) == named);
    let mut cmd = match alone {
        Some(sub) => root().subcommand(sub.build()),
        None => tree(),
    };
    let parsed = cmd
        .try_get_matches_from_mut(args)
        .and_then(|mut matches| from_matches(&mut matches));
    (cmd, parsed)
}

/// `pidward __agree [ARGS...]` (test helpers): parse ARGS (or, without any, each line of
/// stdin, its arguments separated by tabs) with the fast path and with clap, and print one
/// verdict a vector: `declined` (the fast path left it to clap), `agree`, or `differ: …`.
/// Exits 1 if any differ. `pidward __agree __table` compares the fast path's option table
/// with clap's options instead.
#[cfg(feature = "test-helpers")]
pub fn agree(rest: &[OsString]) -> u8 {
    use std::io::{BufRead, Write};
    let program = OsString::from("pidward");
    let verdict = |rest: Vec<OsString>| -> String {
        let args: Vec<OsString> = std::iter::once(program.clone()).chain(rest).collect();
        let Some(fast) = fast::parse(&args) else {
            return "declined".to_owned();
        };
        match clap_parse(args).1 {
            Err(e) => format!("differ: clap refuses it ({})", e.kind()),
            Ok(clap) => {
                let (fast, clap) = (debug(&fast), debug(&clap));
                if fast == clap {
                    "agree".to_owned()
                } else {
                    format!("differ: fast path {fast}, clap {clap}")
                }
            }
        }
    };
    if rest.len() == 1 && rest[0] == "__table" {
        let differences = fast::table_differences();
        for d in &differences {
            println!("{d}");
        }
        if differences.is_empty() {
            println!("the table agrees with clap");
        }
        return u8::from(!differences.is_empty());
    }
    let mut verdicts = Vec::new();
    if rest.is_empty() {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return 2 };
            let fields = if line.is_empty() {
                Vec::new()
            } else {
                line.split('\t').map(OsString::from).collect()
            };
            verdicts.push(verdict(fields));
        }
    } else {
        verdicts.push(verdict(rest.to_vec()));
    }
    let mut out = std::io::stdout().lock();
    for v in &verdicts {
        let _ = writeln!(out, "{v}");
    }
    u8::from(verdicts.iter().any(|v| v.starts_with("differ")))
}

/// The parsed arguments as text, for [`agree`] (`run` and `status` have a fast path).
#[cfg(feature = "test-helpers")]
fn debug(parsed: &Parsed) -> String {
    match parsed {
        Parsed::Run(args) => format!("run {args:?}"),
        Parsed::Status(args) => format!("status {args:?}"),
        _ => "(neither run nor status)".to_owned(),
    }
}

/// The subcommand clap matched, with its arguments.
fn from_matches(matches: &mut ArgMatches) -> Result<Parsed, clap::Error> {
    use clap::error::ErrorKind;
    let Some((name, mut m)) = matches.remove_subcommand() else {
        let message = "a subcommand is required but one was not provided";
        return Err(clap::Error::raw(ErrorKind::MissingSubcommand, message));
    };
    let m = &mut m;
    Ok(match name.as_str() {
        "lock" => Parsed::Lock(lock::Args::from_arg_matches_mut(m)?),
        "status" => Parsed::Status(status::Args::from_arg_matches_mut(m)?),
        "stop" => Parsed::Stop(stop::Args::from_arg_matches_mut(m)?),
        "run" => Parsed::Run(run::Args::from_arg_matches_mut(m)?),
        "notify" => Parsed::Notify(notify::Args::from_arg_matches_mut(m)?),
        "locks" => Parsed::Locks(locks::Args::from_arg_matches_mut(m)?),
        "completions" => Parsed::Completions(completions::Args::from_arg_matches_mut(m)?),
        #[cfg(feature = "test-helpers")]
        "__man" => Parsed::Man(crate::man::Args::from_arg_matches_mut(m)?),
        _ => {
            let message = format!("the subcommand '{name}' wasn't recognized");
            return Err(clap::Error::raw(ErrorKind::InvalidSubcommand, message));
        }
    })
}
