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
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pidward::child::{Exec, Setup};
use pidward::flock::{Kind, Mode, Range, lock_until, unlock};
use pidward::supervise::{Supervisor, exit_code};

mod etcd;
mod getopt;
mod holder;
mod number;
mod options;

use options::{Invocation, Op, Parsed, Target, Timeout};

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
pub fn main(name: Name, args: &[OsString]) -> u8 {
    let result = match options::parse(args) {
        Ok(Parsed::Help) => {
            print!("{}", help(&name));
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

/// An open lock target and how to name it in messages.
struct Locking<'a> {
    fd: Held<'a>,
    label: String,
    path: Option<&'a Path>,
    writable: bool,
}

/// The descriptor locked: one we opened, or the caller's.
enum Held<'a> {
    Own(OwnedFd),
    Inherited(BorrowedFd<'a>),
}

impl Held<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Held::Own(fd) => fd.as_fd(),
            Held::Inherited(fd) => *fd,
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
    let write_only = inv.fcntl && inv.op == Op::Lock(Mode::Exclusive);
    let mut target = match &inv.target {
        Target::Path(path) => {
            let path = Path::new(path);
            Locking {
                fd: Held::Own(open_lock_file(path, write_only, false)?),
                label: path.display().to_string(),
                path: Some(path),
                writable: write_only,
            }
        }
        Target::Fd(n) => Locking {
            // SAFETY: the caller's descriptor, used only while this process runs and never
            // closed by it; if it is not open, flock(2) or fcntl(2) says EBADF.
            fd: Held::Inherited(unsafe { BorrowedFd::borrow_raw(*n) }),
            label: n.to_string(),
            path: None,
            writable: false,
        },
    };

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
            Ok(false) => return Err(conflict(name, &inv, &target, nonblock, wait)),
            Err(e) if reopen_read_write(&inv, &target, &e) => {
                let path = target.path.expect("only files are reopened");
                target.fd = Held::Own(open_lock_file(path, false, true)?);
                target.writable = true;
            }
            Err(e) => {
                let code = match e.raw_os_error() {
                    Some(libc::ENOLCK | libc::ENOMEM) => OS_ERROR,
                    _ => BAD_FD,
                };
                return Err(Failure::new(
                    code,
                    format!("{}: {}", target.label, os_text(&e)),
                ));
            }
        }
    }
    let mut out = io::stdout().lock();
    if inv.verbose {
        let took = started.elapsed();
        let _ = writeln!(
            out,
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

/// flock's NFS fallback: a lock refused with `EIO` or `EBADF` on a descriptor we opened
/// read-only is tried again on one opened read-write, when the file allows it (flock(2) is
/// emulated with fcntl(2) locks there, which want a writable descriptor to lock exclusively).
fn reopen_read_write(inv: &Invocation, target: &Locking<'_>, e: &io::Error) -> bool {
    let Some(path) = target.path else {
        return false;
    };
    matches!(e.raw_os_error(), Some(libc::EIO | libc::EBADF))
        && !target.writable
        && inv.op != Op::Lock(Mode::Shared)
        && rustix::fs::access(
            path,
            rustix::fs::Access::READ_OK | rustix::fs::Access::WRITE_OK,
        )
        .is_ok()
}

/// The lock was not obtained: flock's silence, or the holder for a person to read.
fn conflict(
    name: &Name,
    inv: &Invocation,
    target: &Locking<'_>,
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
    let holders = holder::describe(target.fd.as_fd());
    let label = match target.path {
        Some(_) => target.label.clone(),
        None => fd_label(&target.label),
    };
    Failure::new(
        inv.conflict_exit_code,
        format!("{why}{label} is locked by {holders}"),
    )
}

/// "file descriptor 9 (/tmp/x)".
fn fd_label(n: &str) -> String {
    match std::fs::read_link(format!("/proc/self/fd/{n}")) {
        Ok(p) => format!("file descriptor {n} ({})", p.display()),
        Err(_) => format!("file descriptor {n}"),
    }
}

/// Let the command inherit the locked descriptor, or not (`-o`), by its close-on-exec flag:
/// this process is single-threaded, so no other child can catch it, and no hook has to run
/// between fork and exec.
fn pass_on(fd: &Held<'_>, close: bool) -> Result<(), Failure> {
    let fd = fd.as_fd();
    let result = rustix::io::fcntl_getfd(fd).and_then(|flags| {
        let flags = if close {
            flags | rustix::io::FdFlags::CLOEXEC
        } else {
            flags - rustix::io::FdFlags::CLOEXEC
        };
        rustix::io::fcntl_setfd(fd, flags)
    });
    result.map_err(|e| Failure::new(OS_ERROR, format!("fcntl: {}", os_text(&e.into()))))
}

/// Open the lock file as flock(1) does (module docs).
fn open_lock_file(path: &Path, write_only: bool, read_write: bool) -> Result<OwnedFd, Failure> {
    let open = |create: bool| {
        let mut o = std::fs::OpenOptions::new();
        // O_NONBLOCK: opening a FIFO or a device never hangs; flock(2) ignores the flag.
        let mut flags = libc::O_NOCTTY | libc::O_NONBLOCK;
        if create {
            // O_CREAT without O_EXCL: std wants write access for `create`, so ask by flag.
            flags |= libc::O_CREAT;
        }
        match (write_only, read_write, create) {
            (_, true, true) => o.read(true).write(true),
            (true, false, true) => o.write(true),
            _ => o.read(true),
        };
        o.custom_flags(flags).mode(0o666);
        o.open(path)
    };
    let result = match open(true) {
        // Linux refuses O_CREAT (and writing) on a directory: open it read-only.
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => open(false),
        other => other,
    };
    result.map(OwnedFd::from).map_err(|e| {
        let code = match e.raw_os_error() {
            Some(libc::ENOMEM | libc::EMFILE | libc::ENFILE) => OS_ERROR,
            Some(libc::EROFS | libc::ENOSPC) => CANNOT_CREATE,
            _ => CANNOT_OPEN,
        };
        Failure::new(
            code,
            format!("cannot open lock file {}: {}", path.display(), os_text(&e)),
        )
    })
}

/// A `-w` value as given back to the user: "0.3", "2".
fn seconds(d: Duration) -> String {
    let text = format!("{:.3}", d.as_secs_f64());
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Exit code and message for a command that could not be started.
/// The OS error behind a failed supervised spawn.
fn spawn_error(e: pidward::supervise::Error) -> io::Error {
    match e {
        pidward::supervise::Error::Setup(step) => step.os_error(),
        other => io::Error::other(other),
    }
}

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

/// `--help`: flock's, under our name, and what pidward adds.
fn help(name: &Name) -> String {
    let n = &name.0;
    format!(
        "
Usage:
 {n} [options] <file>|<directory> <command> [<argument>...]
 {n} [options] <file>|<directory> -c <command>
 {n} [options] <file descriptor number>
 {n} [options] --fd <file descriptor number> -c <command>
 {n} [options] --fd <file descriptor number> <command> [<argument>...]

Manage file locks from shell scripts.

Options:
 -s, --shared             get a shared lock
 -x, --exclusive          get an exclusive lock (default)
 -u, --unlock             remove a lock
 -n, --nb, --nonblocking  fail rather than wait
 -w, --timeout <secs>     wait for a limited amount of time
 -E, --conflict-exit-code <number>  exit code after conflict or timeout
 -o, --close              close file descriptor before running command
 -c, --command <command>  run a single command string through the shell
 -F, --no-fork            execute command without forking
     --wait               same as --timeout
     --fcntl              use fcntl(F_OFD_SETLK) rather than flock()
     --start <offset>     starting offset for lock (implies --fcntl)
     --length <number>    number of bytes to lock (implies --fcntl)
     --fd <number>        use the file descriptor number to wrap the
                          lock around the command execution
     --verbose            increase verbosity

 -h, --help               display this help
 -V, --version            display version

Cluster lock on etcd (as etcdctl lock takes it; the command is stopped if the lock is lost):
     --etcd <endpoints>   lock <name> (the <file> operand) on etcd: http://host:port,...
                          (an empty list reads $PIDWARD_ETCD_ENDPOINTS)
     --ttl <secs>         lease TTL (default 10, at least 2)
     --kill-after <secs>  SIGTERM to SIGKILL once the lock is lost (default min(5, TTL/3))
     --lost-exit-code <n> exit code when the lock was lost (default 75)

Beyond flock(1): signals are forwarded to the command and the lock is kept until it exits;
a conflict names the holder with --verbose or on a terminal; <file> -- <command> skips the --.

Exit status: the command's, or 128+N if signal N killed it; 1 (or -E) if the lock was not
obtained; 64 usage, 65 cannot lock the descriptor, 66 cannot open (73 create) the file,
69 cannot run the command, 71 system error; with --etcd, 68 etcd cannot be reached and 75
the lock was lost while the command ran.
"
    )
}
