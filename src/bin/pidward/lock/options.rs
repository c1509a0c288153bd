//! The options and operands of `pidward lock`, read exactly as flock(1) reads them.
//!
//! [`SPECS`] is the option table (flock's `getopt_long` table, `+` included); [`parse`] applies
//! each option in order, so the last of repeated options wins and a bad value is reported when
//! it is met, then sorts the operands the way flock does:
//!
//! * `FILE COMMAND [ARG...]` or `FILE -c STRING`: lock FILE, run the command;
//! * `FD`: lock an inherited descriptor and exit, the caller keeps the lock;
//! * `--fd FD COMMAND [ARG...]` or `--fd FD -c STRING`: lock FD around the command.
//!
//! pidward also reads `FILE -- COMMAND` (the `--` is skipped) and `-c STRING FILE`.
//!
//! A new way to lock (another backend) is one [`Opt`] variant, one [`SPECS`] row made with
//! `extension` (so that flock's abbreviations keep their meaning: `--e` is `--exclusive`
//! whatever else starts with `e`) and one arm in [`parse`].

use std::ffi::{OsStr, OsString};
use std::time::Duration;

use pidward::flock::Mode;

use super::getopt::{Event, Getopt, HasArg, Spec};
use super::number::{self, Bad};
use super::{Failure, USAGE};

/// What an option means.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Opt {
    Shared,
    Exclusive,
    Unlock,
    NonBlock,
    Timeout,
    ConflictExitCode,
    Close,
    NoFork,
    Verbose,
    Fcntl,
    Start,
    Length,
    Fd,
    Help,
    Version,
    /// `--etcd`, `--ttl`, `--kill-after`, `--lost-exit-code`, `--cacert`, `--cert`, `--key`:
    /// the cluster lock (`etcd.rs`).
    Etcd,
    Ttl,
    KillAfter,
    LostExitCode,
    CaCert,
    Cert,
    Key,
}

const fn spec(short: u8, long: &'static str, has_arg: HasArg, id: Opt) -> Spec<Opt> {
    Spec {
        short: if short == 0 { None } else { Some(short) },
        long: if long.is_empty() { None } else { Some(long) },
        has_arg,
        id,
        primary: true,
    }
}

/// A long option of pidward's own: its abbreviations give way to flock's (`getopt.rs`).
const fn extension(long: &'static str, has_arg: HasArg, id: Opt) -> Spec<Opt> {
    Spec {
        primary: false,
        ..spec(0, long, has_arg, id)
    }
}

/// flock(1)'s options, in flock's order (which is the order ambiguities are listed in).
pub static SPECS: &[Spec<Opt>] = {
    use HasArg::{No, Required};
    &[
        spec(b's', "shared", No, Opt::Shared),
        spec(b'x', "exclusive", No, Opt::Exclusive),
        spec(b'e', "", No, Opt::Exclusive),
        spec(b'u', "unlock", No, Opt::Unlock),
        spec(b'n', "nonblocking", No, Opt::NonBlock),
        spec(0, "nb", No, Opt::NonBlock),
        spec(b'w', "timeout", Required, Opt::Timeout),
        spec(0, "wait", Required, Opt::Timeout),
        spec(b'E', "conflict-exit-code", Required, Opt::ConflictExitCode),
        spec(b'o', "close", No, Opt::Close),
        spec(b'F', "no-fork", No, Opt::NoFork),
        spec(0, "verbose", No, Opt::Verbose),
        spec(0, "fcntl", No, Opt::Fcntl),
        spec(0, "start", Required, Opt::Start),
        spec(0, "length", Required, Opt::Length),
        spec(0, "fd", Required, Opt::Fd),
        spec(b'h', "help", No, Opt::Help),
        spec(b'V', "version", No, Opt::Version),
        extension("etcd", Required, Opt::Etcd),
        extension("ttl", Required, Opt::Ttl),
        extension("kill-after", Required, Opt::KillAfter),
        extension("lost-exit-code", Required, Opt::LostExitCode),
        extension("cacert", Required, Opt::CaCert),
        extension("cert", Required, Opt::Cert),
        extension("key", Required, Opt::Key),
    ]
};

/// What to do to the lock.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    Lock(Mode),
    Unlock,
}

/// A `-w` value: how long to wait, or why the timer cannot be set (flock's 71).
#[derive(Clone, Debug)]
pub enum Timeout {
    Wait(Duration),
    Unusable,
}

/// What is locked.
#[derive(Clone, Debug)]
pub enum Target {
    Path(OsString),
    Fd(i32),
}

/// A whole command line, sorted.
#[derive(Debug)]
pub struct Invocation {
    pub op: Op,
    pub nonblock: bool,
    pub timeout: Option<Timeout>,
    pub conflict_exit_code: u8,
    pub close: bool,
    pub no_fork: bool,
    pub verbose: bool,
    /// `--fcntl`, `--start` or `--length`: an open file description lock on a byte range.
    pub fcntl: bool,
    pub start: u64,
    pub length: u64,
    pub target: Target,
    /// The command to run; empty when only the lock is taken (`FD`).
    pub argv: Vec<OsString>,
    /// The cluster lock's settings (`--etcd` and its options).
    pub etcd: super::etcd::Settings,
}

/// What the command line asks for.
pub enum Parsed {
    Run(Invocation),
    Help,
    Version,
}

/// A getopt error: the message, then "Try '... --help'".
fn usage(message: String) -> Failure {
    Failure::usage(message)
}

/// Any other usage error: the message alone, as flock's `errx(EX_USAGE, ...)`.
fn plain(message: &str) -> Failure {
    Failure::new(USAGE, message.into())
}

fn bad_number(what: &str, text: &OsStr, bad: Bad) -> Failure {
    let why = match bad {
        Bad::Invalid => "",
        Bad::Range => ": Numerical result out of range",
    };
    Failure::new(USAGE, format!("{what}: '{}'{why}", text.to_string_lossy()))
}

fn start_or_length(what: &str, text: &OsStr) -> Result<u64, Failure> {
    number::size(&text.to_string_lossy()).map_err(|bad| {
        let errno = match bad {
            Bad::Invalid => "Invalid argument",
            Bad::Range => "Numerical result out of range",
        };
        Failure::new(
            USAGE,
            format!("{what}: '{}': {errno}", text.to_string_lossy()),
        )
    })
}

fn descriptor(text: &OsStr) -> Result<i64, Failure> {
    number::integer(&text.to_string_lossy(), i64::MIN, i32::MAX.into())
        .map_err(|bad| bad_number("invalid file descriptor", text, bad))
}

fn timeout(text: &OsStr) -> Result<Timeout, Failure> {
    use pidward::time::{Error, parse_seconds};
    let s = text.to_string_lossy();
    match parse_seconds(&s) {
        Ok(d) if d.as_secs() <= i64::MAX as u64 => Ok(Timeout::Wait(d)),
        Ok(_) | Err(Error::TooLarge { .. }) => Ok(Timeout::Unusable),
        Err(Error::Negative { .. }) => {
            // flock truncates to microseconds before the sign matters: -0.0000001 is zero.
            let magnitude = s.trim_start().strip_prefix('-').unwrap_or_default();
            match parse_seconds(magnitude) {
                Ok(d) if d.as_micros() == 0 => Ok(Timeout::Wait(Duration::ZERO)),
                _ => Ok(Timeout::Unusable),
            }
        }
        Err(_) => Err(Failure::new(USAGE, format!("invalid timeout: '{s}'"))),
    }
}

/// Read `args` (what follows `lock`, or flock's own arguments).
pub fn parse(args: &[OsString]) -> Result<Parsed, Failure> {
    if args.is_empty() {
        return Err(usage("not enough arguments".into()));
    }
    let mut inv = Invocation {
        op: Op::Lock(Mode::Exclusive),
        nonblock: false,
        timeout: None,
        conflict_exit_code: 1,
        close: false,
        no_fork: false,
        verbose: false,
        fcntl: false,
        start: 0,
        length: 0,
        target: Target::Fd(-1),
        argv: Vec::new(),
        etcd: Default::default(),
    };
    let mut fd: Option<i64> = None;
    let mut command_opt: Option<&OsStr> = None;
    let mut scan = Getopt::new(args, SPECS);
    for event in scan.by_ref() {
        let (opt, value) = match event {
            Event::Opt(opt, value) => (opt, value.unwrap_or_default()),
            // flock reads `-c`/`--command` before the file by letting getopt reject it.
            Event::Unknown { arg } if arg == "-c" || arg == "--command" => {
                command_opt = Some(arg);
                continue;
            }
            Event::Unknown { arg } => {
                let arg = arg.to_string_lossy();
                return Err(usage(format!("unrecognized option '{arg}'")));
            }
            Event::MissingValue { spelling } => {
                return Err(usage(format!("option '{spelling}' requires an argument")));
            }
            Event::UnwantedValue { spelling } => {
                return Err(usage(format!(
                    "option '{spelling}' doesn't allow an argument"
                )));
            }
            Event::Ambiguous { given, candidates } => {
                let list: Vec<String> = candidates.iter().map(|c| format!("'--{c}'")).collect();
                return Err(usage(format!(
                    "option '{given}' is ambiguous; possibilities: {}",
                    list.join(" ")
                )));
            }
        };
        match opt {
            Opt::Shared => inv.op = Op::Lock(Mode::Shared),
            Opt::Exclusive => inv.op = Op::Lock(Mode::Exclusive),
            Opt::Unlock => inv.op = Op::Unlock,
            Opt::NonBlock => inv.nonblock = true,
            Opt::Timeout => inv.timeout = Some(timeout(value)?),
            Opt::ConflictExitCode => {
                let code = number::integer(&value.to_string_lossy(), 0, 255).map_err(|bad| {
                    bad_number("invalid exit code (allowed values: 0-255)", value, bad)
                })?;
                inv.conflict_exit_code = code as u8;
            }
            Opt::Close => inv.close = true,
            Opt::NoFork => inv.no_fork = true,
            Opt::Verbose => inv.verbose = true,
            Opt::Fcntl => inv.fcntl = true,
            Opt::Start => {
                inv.start = start_or_length("invalid as start offset", value)?;
                inv.fcntl = true;
            }
            Opt::Length => {
                inv.length = start_or_length("invalid as length of lock range", value)?;
                inv.fcntl = true;
            }
            Opt::Fd => fd = Some(descriptor(value)?),
            Opt::Help => return Ok(Parsed::Help),
            Opt::Version => return Ok(Parsed::Version),
            Opt::Etcd
            | Opt::Ttl
            | Opt::KillAfter
            | Opt::LostExitCode
            | Opt::CaCert
            | Opt::Cert
            | Opt::Key => inv.etcd.set(opt, value)?,
        }
    }
    if inv.no_fork && inv.close {
        return Err(plain("the --no-fork and --close options are incompatible"));
    }
    operands(&mut inv, scan.operands(), fd, command_opt)?;
    Ok(Parsed::Run(inv))
}

/// Sort the operands as flock does (module docs).
fn operands(
    inv: &mut Invocation,
    rest: &[OsString],
    fd: Option<i64>,
    command_opt: Option<&OsStr>,
) -> Result<(), Failure> {
    let shell = |string: &OsString| {
        let shell = std::env::var_os("SHELL")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/bin/sh".into());
        vec![shell, "-c".into(), string.clone()]
    };
    let exactly_one = |opt: &OsStr| {
        Failure::new(
            USAGE,
            format!(
                "{} requires exactly one command argument",
                opt.to_string_lossy()
            ),
        )
    };
    let mut number = fd;
    if let Some(opt) = command_opt {
        match (rest, fd) {
            ([string], _) => inv.argv = shell(string),
            // pidward: `-c STRING FILE`.
            ([string, file], None) => {
                inv.argv = shell(string);
                inv.target = Target::Path(file.clone());
                return Ok(());
            }
            _ => return Err(exactly_one(opt)),
        }
    } else if rest.len() > 1 && fd.is_none() {
        let after = rest[1].as_os_str();
        inv.argv = if after == "-c" || after == "--command" {
            match rest {
                [_, _, string] => shell(string),
                _ => return Err(exactly_one(after)),
            }
        } else if after == "--" {
            // pidward: `FILE -- COMMAND`.
            if rest.len() == 2 {
                return Err(plain("missing command after '--'"));
            }
            rest[2..].to_vec()
        } else {
            rest[1..].to_vec()
        };
        inv.target = Target::Path(rest[0].clone());
        return Ok(());
    } else if let Some(first) = rest.first() {
        if fd.is_some() {
            inv.argv = rest.to_vec();
        } else {
            number = Some(descriptor(first)?);
        }
    } else if fd.is_some() {
        return Err(plain("missing command"));
    } else {
        return Err(plain("missing file descriptor, file or directory"));
    }
    match number {
        Some(n) if n >= 0 => {
            inv.target = Target::Fd(n as i32);
            Ok(())
        }
        _ => Err(plain("missing file descriptor, file or directory")),
    }
}
