//! `pidward lock`: run a command while holding a file lock, flock(1)-compatible.
//!
//! ```text
//! pidward lock [OPTIONS] FILE|DIR [--] COMMAND [ARGS...]
//! pidward lock [OPTIONS] FILE|DIR -c STRING
//! pidward lock [OPTIONS] FD
//! ```
//!
//! The argument list is read the way flock(1) reads it: options come first, the first operand
//! is the lock file, and everything after it belongs to the command, hyphens included
//! (`pidward lock F cmd -x` passes `-x` to `cmd`). Right after the file, `-c STRING` runs the
//! string with `$SHELL -c` (`/bin/sh` when `SHELL` is unset), as flock(1) does; a single `--`
//! there is skipped.
//!
//! The file is opened as flock(1) opens it (`O_RDONLY|O_NOCTTY|O_CREAT|O_CLOEXEC`, mode 0666
//! less the umask; a directory read-only; an existing file read-only when it cannot be
//! created), plus `O_NONBLOCK` so that a FIFO or a device cannot make the open hang; locked
//! with `flock(2)`, and the command runs under [`pidward::supervise`]: it
//! inherits the locked descriptor (unless `-o`), the signals sent to us are forwarded to it,
//! and we keep the lock until it has exited. The inherited descriptor is made so by clearing
//! `FD_CLOEXEC` before spawning: this process is single-threaded, so no other child can
//! catch it, and no hook has to run between fork and exec.
//!
//! Beyond flock(1), a conflict or a timeout names the holder: PID, command line, and how long
//! it has been running (from `/proc/locks` and `/proc/PID`).
//!
//! Exit codes: the command's, or 128+N when signal N killed it; 1 (or `-E N`) when the lock
//! was not obtained; 66 when the lock file cannot be opened; 126/127 when the command cannot
//! be executed / is not found; 2 for usage errors.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pidward::flock::{Mode, holders, lock_until};
use pidward::liveness::ProcessInfo;
use pidward::supervise::{Supervisor, exit_code};

/// Lock not obtained.
const CONFLICT: u8 = 1;
/// Lock file cannot be opened.
const CANNOT_OPEN: u8 = 66;
/// Usage error, as clap reports them.
const USAGE: u8 = 2;

/// Options and operands of `pidward lock`.
#[derive(clap::Args, Debug)]
#[command(
    override_usage = "pidward lock [OPTIONS] <FILE|DIR> [--] <COMMAND> [ARGS]...\n       \
                      pidward lock [OPTIONS] <FILE|DIR> -c <STRING>\n       \
                      pidward lock [OPTIONS] <FD>",
    after_help = "Exit status: the command's, or 128+N if signal N killed it; 1 (or -E N) if \
                  the lock was not obtained; 66 if the lock file cannot be opened; 126/127 if \
                  the command cannot be executed / is not found; 2 for usage errors."
)]
pub struct Args {
    /// Take a shared lock.
    #[arg(short = 's', long, overrides_with_all = ["exclusive", "unlock"])]
    shared: bool,
    /// Take an exclusive lock (the default).
    #[arg(short = 'x', short_alias = 'e', long, overrides_with_all = ["shared", "unlock"])]
    exclusive: bool,
    /// Remove a lock (mostly useful with an inherited FD).
    #[arg(short = 'u', long, overrides_with_all = ["shared", "exclusive"])]
    unlock: bool,
    /// Fail at once rather than wait when the lock is held.
    #[arg(short = 'n', long, visible_alias = "nb")]
    nonblock: bool,
    /// Wait at most SECONDS (fractions allowed; 0 means do not wait).
    #[arg(
        short = 'w',
        long = "timeout",
        visible_alias = "wait",
        value_name = "SECONDS",
        value_parser = parse_seconds
    )]
    timeout: Option<Duration>,
    /// Exit with N when the lock is not obtained (0 to 255).
    #[arg(
        short = 'E',
        long,
        value_name = "N",
        default_value_t = CONFLICT,
        value_parser = clap::value_parser!(u8)
    )]
    conflict_exit_code: u8,
    /// Do not pass the lock descriptor on to the command.
    #[arg(short = 'o', long, conflicts_with = "no_fork")]
    close: bool,
    /// Replace this process with the command instead of supervising it (no signal forwarding).
    #[arg(short = 'F', long)]
    no_fork: bool,
    /// Run STRING with `$SHELL -c` (also accepted right after the file, as flock(1) has it).
    #[arg(short = 'c', long, value_name = "STRING")]
    command: Option<OsString>,
    /// Report how long getting the lock took, and what is executed.
    #[arg(long)]
    verbose: bool,
    /// FILE, DIR or FD, then the command and its arguments.
    #[arg(value_name = "FILE|DIR|FD", required = true, trailing_var_arg = true)]
    operands: Vec<OsString>,
}

/// What the operands ask for.
enum Target {
    /// Lock this path and run this argv.
    Path(OsString, Vec<OsString>),
    /// Lock an inherited descriptor.
    Fd(i32),
}

/// `pidward lock`.
pub fn main(args: Args) -> u8 {
    match run(args) {
        Ok(code) => code,
        Err(Failure(code, message)) => {
            eprintln!("pidward lock: {message}");
            code
        }
    }
}

/// An exit code and the message that explains it.
struct Failure(u8, String);

fn run(args: Args) -> Result<u8, Failure> {
    let target = target(&args)?;
    let mode = if args.shared {
        Some(Mode::Shared)
    } else if args.unlock {
        None
    } else {
        Some(Mode::Exclusive)
    };
    let nonblock = args.nonblock || args.timeout == Some(Duration::ZERO);
    let deadline = if nonblock {
        Some(Instant::now())
    } else {
        args.timeout.map(|t| Instant::now() + t)
    };

    let (fd, name, argv): (OwnedFd, String, Vec<OsString>) = match target {
        Target::Path(path, argv) => {
            let file = open_lock_file(Path::new(&path))?;
            (file.into(), Path::new(&path).display().to_string(), argv)
        }
        Target::Fd(fd) => {
            let borrowed = inherited_fd(fd)?;
            // Our own descriptor for it: closing ours does not unlock (the lock belongs to
            // the open file description, which the caller keeps).
            let own = borrowed.try_clone_to_owned().map_err(|e| {
                Failure(
                    CANNOT_OPEN,
                    format!("file descriptor {fd}: {}", os_text(&e)),
                )
            })?;
            let name = match std::fs::read_link(format!("/proc/self/fd/{fd}")) {
                Ok(p) => format!("file descriptor {fd} ({})", p.display()),
                Err(_) => format!("file descriptor {fd}"),
            };
            (own, name, Vec::new())
        }
    };

    let started = Instant::now();
    match mode {
        None => rustix::fs::flock(&fd, rustix::fs::FlockOperation::Unlock)
            .map_err(|e| Failure(CANNOT_OPEN, format!("cannot unlock {name}: {e}")))?,
        Some(mode) => {
            let locked = lock_until(fd.as_fd(), mode, deadline).map_err(|e| {
                Failure(CANNOT_OPEN, format!("cannot lock {name}: {}", os_text(&e)))
            })?;
            if !locked {
                let why = match (nonblock, args.timeout) {
                    (false, Some(t)) => format!("timed out after {}s: ", seconds(t)),
                    _ => String::new(),
                };
                return Err(Failure(
                    args.conflict_exit_code,
                    format!("{why}{name} is locked by {}", describe_holders(&fd)),
                ));
            }
        }
    }
    if args.verbose {
        eprintln!(
            "pidward lock: getting lock took {:.6} seconds",
            started.elapsed().as_secs_f64()
        );
    }
    if argv.is_empty() {
        // FD mode: the caller keeps the lock through its own descriptor.
        return Ok(0);
    }

    if !args.close {
        // The command inherits the locked descriptor (see the module docs).
        let flags = rustix::io::fcntl_getfd(&fd)
            .map_err(|e| Failure(CANNOT_OPEN, format!("{name}: {e}")))?;
        rustix::io::fcntl_setfd(&fd, flags - rustix::io::FdFlags::CLOEXEC)
            .map_err(|e| Failure(CANNOT_OPEN, format!("{name}: {e}")))?;
    }
    let program = argv[0].to_string_lossy().into_owned();
    if args.verbose {
        eprintln!("pidward lock: executing {program}");
    }
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);

    if args.no_fork {
        let e = cmd.exec();
        return Err(exec_failure(&program, &e));
    }
    // Keep what the caller ignores, as flock(1) does: `nohup` and `cmd &` rely on it.
    let child = Supervisor::new()
        .reset_ignored(false)
        .spawn(&mut cmd)
        .map_err(|e| exec_failure(&program, &e))?;
    let status = child
        .wait()
        .map_err(|e| Failure(1, format!("waiting for {program}: {}", os_text(&e))))?;
    // The lock goes with `fd`, only now that the command has exited.
    drop(fd);
    Ok(exit_code(status))
}

/// Sort the operands: FILE and a command, FILE -c STRING, or a lone FD.
fn target(args: &Args) -> Result<Target, Failure> {
    let usage = |m: String| Failure(USAGE, m);
    let (first, rest) = args
        .operands
        .split_first()
        .expect("clap requires one operand");
    let mut argv: Vec<OsString> = rest.to_vec();
    let shell_string = if let Some(s) = &args.command {
        if !argv.is_empty() {
            return Err(usage(
                "-c takes the whole command as one string; nothing may follow the file".into(),
            ));
        }
        Some(s.clone())
    } else if matches!(
        argv.first().and_then(|a| a.to_str()),
        Some("-c" | "--command")
    ) {
        if argv.len() != 2 {
            return Err(usage(format!(
                "{} requires exactly one command argument",
                argv[0].to_string_lossy()
            )));
        }
        Some(argv[1].clone())
    } else {
        if argv.first().map(OsString::as_os_str) == Some(OsStr::new("--")) {
            argv.remove(0);
            if argv.is_empty() {
                return Err(usage("no command after --".into()));
            }
        }
        None
    };
    if let Some(s) = shell_string {
        let shell = std::env::var_os("SHELL")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/bin/sh".into());
        return Ok(Target::Path(first.clone(), vec![shell, "-c".into(), s]));
    }
    if !argv.is_empty() {
        return Ok(Target::Path(first.clone(), argv));
    }
    let text = first.to_string_lossy();
    match text.parse::<i32>() {
        Ok(fd) if fd >= 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(Target::Fd(fd)),
        _ => Err(usage(format!(
            "'{text}' is not a file descriptor number; to lock a file, name the command to run \
             after it"
        ))),
    }
}

/// `-w` values: non-negative decimal seconds, fractions allowed.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("'{text}' is not a number of seconds (0 or more)"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{text}' is too long"))
}

/// Open the lock file as flock(1) does (module docs).
fn open_lock_file(path: &Path) -> Result<File, Failure> {
    let open = |create: bool| {
        let mut o = std::fs::OpenOptions::new();
        // O_NONBLOCK: opening a FIFO or a device never hangs (flock(1) would wait for a
        // writer or a carrier); flock(2) itself ignores the flag.
        let flags = libc::O_NOCTTY | libc::O_NONBLOCK;
        o.read(true).custom_flags(flags).mode(0o666);
        if create {
            // O_CREAT without O_EXCL: std wants write access for `create`, so ask for it by flag.
            o.custom_flags(flags | libc::O_CREAT);
        }
        o.open(path)
    };
    let result = match open(true) {
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => open(false),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EROFS | libc::EACCES)) => {
            open(false).map_err(|_| e)
        }
        other => other,
    };
    result.map_err(|e| {
        Failure(
            CANNOT_OPEN,
            format!("cannot open lock file {}: {}", path.display(), os_text(&e)),
        )
    })
}

/// The inherited descriptor `fd`, if it is open (`fcntl(F_GETFD)`).
fn inherited_fd(fd: i32) -> Result<BorrowedFd<'static>, Failure> {
    // SAFETY: only used while this process runs, and only after checking that it is open;
    // nothing in this process closes inherited descriptors.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_getfd(borrowed).map_err(|e| {
        Failure(
            CANNOT_OPEN,
            format!("file descriptor {fd}: {}", os_text(&e.into())),
        )
    })?;
    Ok(borrowed)
}

/// "PID 1234 (sleep 100), running for 12s", for every holder `/proc/locks` names.
fn describe_holders(fd: &OwnedFd) -> String {
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
                human(info.uptime())
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

/// "12s", "3m04s", "2h03m", "4d02h".
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// A `-w` value as given back to the user: "0.3", "2".
fn seconds(d: Duration) -> String {
    let text = format!("{:.3}", d.as_secs_f64());
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Exit code and message for a command that could not be started.
fn exec_failure(program: &str, e: &io::Error) -> Failure {
    Failure(
        pidward::supervise::exec_error_code(e),
        format!("cannot run {program}: {}", os_text(e)),
    )
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
