//! `pidward lock`: run a command while holding a file lock, as util-linux's flock(1) does.
//!
//! ```text
//! pidward lock [options] <file>|<directory> <command> [<argument>...]
//! pidward lock [options] <file>|<directory> -c <command>
//! pidward lock [options] <file descriptor number>
//! pidward lock [options] --fd <file descriptor number> <command> [<argument>...]
//! ```
//!
//! A drop-in for flock(1) (util-linux 2.42): the same options read the same way
//! (`lock/getopt.rs`, `lock/options.rs`), the same streams (`--verbose` on stdout), the same
//! exit codes, and, under a name ending in `flock` (`ln -s pidward flock`), the same `flock:`
//! prefix. The file is opened as flock opens it (`O_RDONLY|O_NOCTTY|O_CREAT`, mode 0666 less
//! the umask, `O_WRONLY` for an exclusive `--fcntl` lock, a directory read-only, `O_RDWR` again
//! when an NFS server refuses the lock on a read-only descriptor), plus `O_CLOEXEC` (cleared
//! before the command starts unless `-o`) and `O_NONBLOCK`, so that a FIFO or a device cannot
//! make the open hang. It is locked with `flock(2)`, or with `--fcntl` an open file
//! description lock on a byte range (`--start`, `--length`), both from [`pidward::flock`].
//!
//! Where pidward goes further, on purpose:
//! * the command runs under [`pidward::supervise`]: signals sent to us are forwarded to it and
//!   the lock is kept until it has exited (flock exits and leaves the command running);
//! * a conflict or a timeout names the holder (PID, command line, how long it has run) when a
//!   person will read it: with `--verbose`, or when stderr is a terminal; otherwise it is
//!   silent, as flock is, so that `cron` mails nothing for a skipped run;
//! * `FILE -- COMMAND` skips the `--`, and `-c STRING FILE` is read as `FILE -c STRING`.
//!
//! Exit codes: the command's, or 128+N when signal N killed it; 1 (or `-E N`) when the lock was
//! not obtained; 64 usage; 65 the descriptor cannot be locked; 66 the file cannot be opened (73
//! cannot be created); 69 the command cannot be run; 71 an OS error.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pidward::child::{Exec, Setup};
use pidward::flock::{Kind, Mode, Range, lock_until, unlock};
use pidward::supervise::{Supervisor, exit_code};

pub mod doc;
mod etcd;
mod getopt;
mod help;
mod holder;
mod number;
mod options;
mod target;

use options::{Invocation, Op, Parsed, Timeout};
use target::{Locking, fd_label, pass_on};

/// `EX_USAGE`: a bad option or operand.
const USAGE: u8 = 64;
/// `EX_DATAERR`: the descriptor cannot be locked (not open, not lockable).
const BAD_FD: u8 = 65;
/// `EX_NOINPUT`: the lock file cannot be opened.
const CANNOT_OPEN: u8 = 66;
/// `EX_UNAVAILABLE`: the command cannot be run.
const CANNOT_RUN: u8 = 69;
/// `EX_OSERR`: out of memory, descriptors or locks; a timer that cannot be set.
const OS_ERROR: u8 = 71;
/// `EX_CANTCREAT`: the lock file cannot be created (read-only file system, no space).
const CANNOT_CREATE: u8 = 73;

/// The name messages carry: `pidward lock`, or the name flock(1) was called by.
pub struct Name(String);

impl Name {
    /// The name as messages show it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `pidward lock`.
    pub fn pidward() -> Name {
        Name("pidward lock".into())
    }

    /// The name this program was run as, when it ends in `flock` (`ln -s pidward flock`).
    pub fn flock(argv0: &std::ffi::OsStr) -> Option<Name> {
        let base = Path::new(argv0).file_name()?.as_bytes();
        base.ends_with(b"flock")
            .then(|| Name(String::from_utf8_lossy(base).into_owned()))
    }
}

/// The stand-in that makes `pidward --help` list `lock`; the arguments are read by
/// [`main`], which `main.rs` calls before clap sees them.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// flock(1)'s options and operands (see `pidward lock --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

/// An exit code, the message that explains it (none: silent), and whether a usage hint follows.
pub struct Failure {
    code: u8,
    message: Option<String>,
    try_help: bool,
}

impl Failure {
    fn new(code: u8, message: String) -> Failure {
        Failure {
            code,
            message: Some(message),
            try_help: false,
        }
    }

    fn usage(message: String) -> Failure {
        Failure {
            code: USAGE,
            message: Some(message),
            try_help: true,
        }
    }

    fn silent(code: u8) -> Failure {
        Failure {
            code,
            message: None,
            try_help: false,
        }
    }
}

/// `pidward lock ARGS` (or `flock ARGS`): the exit code.
#[inline(never)]
pub fn main(name: Name, args: &[OsString]) -> u8 {
    let result = match options::parse(args) {
        Ok(Parsed::Help) => {
            print!("{}", help::help(&name));
            Ok(0)
        }
        Ok(Parsed::Version) => {
            println!("{} from pidward {}", name.0, env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Ok(Parsed::Run(inv)) => run(&name, inv),
        Err(f) => Err(f),
    };
    match result {
        Ok(code) => code,
        Err(f) => {
            if let Some(message) = f.message {
                eprintln!("{}: {message}", name.0);
            }
            if f.try_help {
                eprintln!("Try '{} --help' for more information.", name.0);
            }
            f.code
        }
    }
}

fn run(name: &Name, inv: Invocation) -> Result<u8, Failure> {
    if inv.etcd.wanted() {
        return etcd::run(name, inv);
    }
    let wait = match &inv.timeout {
        Some(Timeout::Unusable) => {
            return Err(Failure::new(
                OS_ERROR,
                "cannot set up timer: Invalid argument".into(),
            ));
        }
        Some(Timeout::Wait(d)) => Some(*d),
        None => None,
    };
    // flock keeps microseconds: anything shorter is `-w 0`, which is `-n`.
    let nonblock = inv.nonblock || wait.is_some_and(|d| d.as_micros() == 0);
    let kind = if inv.fcntl {
        Kind::Ofd(Range::new(inv.start, inv.length))
    } else {
        Kind::Flock
    };
    let mut target = Locking::open(&inv)?;
    let started = Instant::now();
    let deadline = if nonblock {
        Some(started)
    } else {
        wait.map(|d| started + d)
    };
    loop {
        let result = match inv.op {
            Op::Unlock => unlock(target.fd.as_fd(), kind).map(|()| true),
            Op::Lock(mode) => lock_until(target.fd.as_fd(), kind, mode, deadline),
        };
        match result {
            Ok(true) => break,
            Ok(false) => return Err(conflict(name, &inv, &target, kind, nonblock, wait)),
            Err(e) if target.reopen(&inv, &e)? => {}
            Err(e) => {
                let code = match e.raw_os_error() {
                    Some(libc::ENOLCK | libc::ENOMEM) => OS_ERROR,
                    _ => BAD_FD,
                };
                let message = format!("{}: {}", target.label, os_text(&e));
                return Err(Failure::new(code, message));
            }
        }
    }
    if inv.verbose {
        let took = started.elapsed();
        let _ = writeln!(
            io::stdout(),
            "{}: getting lock took {}.{:06} seconds",
            name.0,
            took.as_secs(),
            took.subsec_micros()
        );
    }
    if inv.argv.is_empty() {
        // A descriptor alone: its holder keeps the lock.
        return Ok(0);
    }
    run_command(name, &inv, target)
}

/// Run the command with the lock held, and release it only once the command has exited.
fn run_command(name: &Name, inv: &Invocation, target: Locking<'_>) -> Result<u8, Failure> {
    let mut out = io::stdout().lock();
    let program = inv.argv[0].to_string_lossy().into_owned();
    if inv.verbose {
        let _ = writeln!(out, "{}: executing {program}", name.0);
    }
    // Before the command writes to the same stdout.
    let _ = out.flush();
    drop(out);
    pass_on(&target.fd, inv.close)?;
    if inv.no_fork {
        let e = Command::new(&inv.argv[0]).args(&inv.argv[1..]).exec();
        return Err(exec_failure(&program, &e));
    }
    let mut exec = Exec::new(&inv.argv[0]);
    exec.args(&inv.argv[1..]);
    // Keep what the caller ignores, as flock(1) does: `nohup` and `cmd &` rely on it.
    let child = Supervisor::new()
        .reset_ignored(false)
        .spawn_exec(Setup::new(), &exec)
        .map_err(|e| exec_failure(&program, &spawn_error(e)))?;
    let status = child
        .wait()
        .map_err(|e| Failure::new(1, format!("waitpid failed: {}", os_text(&e))))?;
    // The lock goes with the descriptor, only now that the command has exited.
    drop(target);
    Ok(exit_code(status))
}

/// The lock was not obtained: flock's silence, or the holder for a person to read.
fn conflict(
    name: &Name,
    inv: &Invocation,
    target: &Locking<'_>,
    kind: Kind,
    nonblock: bool,
    wait: Option<Duration>,
) -> Failure {
    let timed_out = !nonblock && wait.is_some();
    if inv.verbose {
        let what = if timed_out {
            "timeout while waiting to get lock"
        } else {
            "failed to get lock"
        };
        eprintln!("{}: {what}", name.0);
    }
    // SAFETY: isatty(3) on fd 2.
    let person = inv.verbose || unsafe { libc::isatty(2) } == 1;
    if !person {
        return Failure::silent(inv.conflict_exit_code);
    }
    let why = match wait {
        Some(t) if timed_out => format!("timed out after {}s: ", seconds(t)),
        _ => String::new(),
    };
    let mode = match inv.op {
        Op::Lock(mode) => mode,
        Op::Unlock => Mode::Exclusive,
    };
    let holders = holder::describe(target.fd.as_fd(), kind, mode);
    let label = match target.path {
        Some(_) => target.label.clone(),
        None => fd_label(&target.label),
    };
    Failure::new(
        inv.conflict_exit_code,
        format!("{why}{label} is locked by {holders}"),
    )
}

/// A `-w` value as given back to the user: "0.3", "2".
fn seconds(d: Duration) -> String {
    format!("{:#}", pidward::time::Seconds(d, 3))
}

/// The OS error behind a failed supervised spawn.
fn spawn_error(e: pidward::supervise::Error) -> io::Error {
    match e {
        pidward::supervise::Error::Setup(step) => step.os_error(),
        other => io::Error::other(other),
    }
}

/// Exit code and message for a command that could not be started.
fn exec_failure(program: &str, e: &io::Error) -> Failure {
    let code = match e.raw_os_error() {
        Some(libc::ENOMEM) => OS_ERROR,
        _ => CANNOT_RUN,
    };
    Failure::new(code, format!("failed to execute {program}: {}", os_text(e)))
}

/// The OS error text without std's " (os error N)" suffix.
fn os_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let full = io::Error::from_raw_os_error(n).to_string();
            match full.rfind(" (os error") {
                Some(i) => full[..i].to_owned(),
                None => full,
            }
        }
        None => e.to_string(),
    }
}
