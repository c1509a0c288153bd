//! `pidward run [OPTIONS] [--] COMMAND [ARGS...]`: start a command properly and tell the
//! caller the truth about the start.
//!
//! Three ways to run, all built from [`pidward::daemon`], [`pidward::supervise`],
//! [`pidward::notify`] and [`pidward::pidfile`]:
//!
//! - **Supervised** (default): pidward stays in the foreground as the command's parent. It
//!   forwards `TERM INT HUP QUIT USR1 USR2 WINCH CONT` to it, adopts and reaps its orphans
//!   (child subreaper), exits with its status (its code, or 128+N when signal N killed it)
//!   and removes its PID files at the end. The set-up steps (chroot, working directory,
//!   umask, limits, user, standard streams) apply to the command only, in a `pre_exec` hook.
//! - **`--daemon`**: detach first ([`pidward::daemon::Daemon`]: double fork, new session,
//!   status pipe), then supervise from the detached process. The invoking shell gets 0 once
//!   the command has been spawned (or, with `--ready`, declared readiness), and otherwise the
//!   failed step and its error, with the matching exit code.
//! - **`--exec`**: no supervisor. Set up this process, then replace it with the command,
//!   which inherits the PID file's lock (see [`pidward::daemon::Started::exec`] for the
//!   caveat). With `--daemon` too, detach first.
//!
//! Exit codes: the command's (or 128+N); 1 already running (0 with `--oknodo`); 2 usage;
//! 124 readiness timeout; 125 a set-up step failed (the message names it); 126 the command
//! cannot be executed; 127 it was not found.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use pidward::child::{Error as StepError, Rlimit, Setup, Stdio, Step};
use pidward::daemon::{self, Daemon};
use pidward::pidfile::{self, PidFile};
use pidward::privileges::Credentials;

mod env;
mod supervised;

/// Start a command: supervise it (default), detach it (--daemon), or exec it (--exec).
///
/// The options live on the heap: they are many, and the other subcommands' are few.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    options: Box<Options>,
}

/// The options of `pidward run`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Exit codes: the command's own (or 128+N if signal N killed it); 1 already running (0 with \
--oknodo); 2 usage error; 124 readiness not declared in time; 125 a set-up step failed (the \
message names it); 126 the command cannot be executed; 127 the command was not found.")]
pub struct Options {
    /// Detach (double fork, new session); return once the command has started, or is ready
    /// with --ready. Detached, the umask defaults to 077 and the standard streams to
    /// /dev/null.
    #[arg(short = 'd', long)]
    daemon: bool,

    /// No supervisor: set up, then replace pidward with the command (which inherits the PID
    /// file's lock, and must keep that descriptor open to keep the lock).
    #[arg(long)]
    exec: bool,

    /// PID file for pidward's own process (the supervisor; the command with --exec).
    #[arg(short = 'p', long = "pidfile", value_name = "PATH")]
    pidfile: Option<PathBuf>,

    /// Exit 0 instead of 1 when the PID file shows the service already running.
    #[arg(long)]
    oknodo: bool,

    /// PID file for the command's process (with a supervisor).
    #[arg(long, value_name = "PATH")]
    child_pidfile: Option<PathBuf>,

    /// Run the command as this user (name or number); USER:GROUP also sets the group.
    /// Without a group: the user's primary group and all its supplementary groups.
    #[arg(short = 'u', long, value_name = "USER[:GROUP]")]
    user: Option<String>,

    /// Run the command with this group (name or number) as its only group.
    #[arg(short = 'g', long, value_name = "GROUP")]
    group: Option<String>,

    /// Change the root directory for the command.
    #[arg(long, value_name = "DIR")]
    chroot: Option<PathBuf>,

    /// Change the working directory for the command (inside the --chroot, if any).
    #[arg(short = 'C', long, value_name = "DIR")]
    chdir: Option<PathBuf>,

    /// The command's umask, in octal (e.g. 027).
    #[arg(long, value_name = "MODE", value_parser = parse_umask)]
    umask: Option<u32>,

    /// Append the command's stdout and stderr to FILE.
    #[arg(short = 'o', long, value_name = "FILE", conflicts_with_all = ["stdout", "stderr"])]
    output: Option<PathBuf>,

    /// Append the command's stdout to FILE.
    #[arg(long, value_name = "FILE")]
    stdout: Option<PathBuf>,

    /// Append the command's stderr to FILE.
    #[arg(long, value_name = "FILE")]
    stderr: Option<PathBuf>,

    /// Mode of output files that pidward creates, in octal.
    #[arg(long, value_name = "MODE", value_parser = parse_umask, default_value = "640")]
    output_mode: u32,

    /// Set an environment variable for the command (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = env::parse_pair)]
    env: Vec<(OsString, OsString)>,

    /// Read KEY=VALUE lines from FILE into the command's environment (repeatable).
    #[arg(long, value_name = "FILE")]
    env_file: Vec<PathBuf>,

    /// Start the command with an empty environment (then --env-file, then --env).
    #[arg(long)]
    clear_env: bool,

    /// Set a resource limit, like prlimit(1): nofile=64, core=0:unlimited (repeatable).
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    rlimit: Vec<Rlimit>,

    /// When the start counts as done: exec (the command was spawned; the default), notify
    /// (it sent READY=1 to $NOTIFY_SOCKET) or fd:N (it wrote a newline to descriptor N).
    #[arg(long, value_name = "exec|notify|fd:N")]
    ready: Option<ReadyMode>,

    /// How long to wait for readiness, in seconds.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_seconds)]
    ready_timeout: Duration,

    /// The command and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<OsString>,
}

/// `--ready`: what counts as a finished start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyMode {
    /// The command was spawned (exec succeeded).
    Exec,
    /// `READY=1` over the sd_notify socket.
    Notify,
    /// A newline on descriptor N (notify-fd).
    Fd(i32),
}

impl FromStr for ReadyMode {
    type Err = String;

    fn from_str(s: &str) -> Result<ReadyMode, String> {
        match s {
            "exec" => Ok(ReadyMode::Exec),
            "notify" => Ok(ReadyMode::Notify),
            _ => match s.strip_prefix("fd:").map(str::parse::<i32>) {
                Some(Ok(n)) if n >= 3 => Ok(ReadyMode::Fd(n)),
                Some(_) => Err(format!(
                    "{s:?}: the descriptor must be a number of at least 3 (0 to 2 are the standard streams)"
                )),
                None => Err(format!("{s:?} is not exec, notify or fd:N")),
            },
        }
    }
}

/// An octal mode such as `027` or `0o640`.
fn parse_umask(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o7777 && !digits.is_empty() => Ok(mode),
        _ => Err(format!("{s:?} is not an octal mode (such as 022 or 0640)")),
    }
}

/// Seconds, possibly fractional.
fn parse_seconds(s: &str) -> Result<Duration, String> {
    pidward::time::parse_seconds(s).map_err(|e| e.to_string())
}

/// Set when inherited descriptors could not be marked close-on-exec at start-up (a kernel
/// older than 5.11): the command's set-up then closes them in the child.
static CLOSE_IN_CHILD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The signals a supervisor forwards to its command.
const FORWARD: [pidward::Signal; 8] = [
    pidward::Signal::TERM,
    pidward::Signal::INT,
    pidward::Signal::HUP,
    pidward::Signal::QUIT,
    pidward::Signal::USR1,
    pidward::Signal::USR2,
    pidward::Signal::WINCH,
    pidward::Signal::CONT,
];

/// How `run` ends when it does not pass the command's status through: an exit code and a
/// message for stderr (none for a quiet success).
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: Option<String>,
    /// The command (or the detached process) ended before the start was over: its stderr
    /// file, if any, tells why.
    early_exit: bool,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: Some(message.into()),
            early_exit: false,
        }
    }

    fn usage(message: impl Into<String>) -> Failure {
        Failure::new(2, message)
    }

    fn setup(message: impl Into<String>) -> Failure {
        Failure::new(125, message)
    }
}

impl From<StepError> for Failure {
    fn from(e: StepError) -> Failure {
        Failure {
            early_exit: e.step() == Step::Exited,
            ..Failure::new(exit_code_of(&e), e.to_string())
        }
    }
}

/// The exit code for a failed step: 127 not found, 126 not executable, 124 readiness
/// timeout, the command's own status when it exited early (never 0), 125 otherwise.
fn exit_code_of(e: &StepError) -> u8 {
    match e.step() {
        Step::Exec if e.code() == libc::ENOENT => 127,
        Step::Exec => 126,
        Step::Timeout => 124,
        Step::Exited if (1..=255).contains(&e.code()) => e.code() as u8,
        _ => 125,
    }
}

pub fn main(args: Args) -> u8 {
    cloexec_inherited_fds();
    match run(*args.options) {
        Ok(code) => code,
        Err(Failure { code, message, .. }) => {
            if let Some(message) = message {
                eprintln!("pidward run: {message}");
            }
            code
        }
    }
}

/// Everything `run` resolved from its arguments before starting anything.
pub struct Plan {
    args: Options,
    /// The caller's working directory: relative paths are relative to it, even after a
    /// detached process moved to `/`.
    cwd: PathBuf,
    credentials: Option<Credentials>,
    env_files: Vec<Vec<(OsString, OsString)>>,
}

fn run(args: Options) -> Result<u8, Failure> {
    let (user, group) = split_user(&args)?;
    if args.exec && args.ready.is_some_and(|r| r != ReadyMode::Exec) {
        return Err(Failure::usage(
            "--ready notify and --ready fd:N need a supervisor, which --exec does without",
        ));
    }
    if args.exec && args.child_pidfile.is_some() {
        return Err(Failure::usage(
            "--child-pidfile needs a supervisor; with --exec the command runs as pidward's own PID (use --pidfile)",
        ));
    }
    // Read-only work first: nothing is created if any of it fails.
    let mut env_files = Vec::new();
    for path in &args.env_file {
        env_files.push(
            env::read_file(path).map_err(|e| Failure::setup(format!("{}: {e}", Step::EnvFile)))?,
        );
    }
    let credentials = match (&user, &group) {
        (None, None) => None,
        _ => Some(
            Credentials::resolve(user.as_deref(), group.as_deref())
                .map_err(|e| Failure::setup(format!("{}: {e}", Step::User)))?,
        ),
    };
    if let Some(creds) = &credentials {
        let euid = rustix::process::geteuid().as_raw();
        if creds.is_noop() {
            eprintln!(
                "pidward run: warning: already running as that user and group; nothing to drop"
            );
        } else if creds.uid() == Some(euid) {
            eprintln!(
                "pidward run: warning: already running as uid {euid}; only the groups change"
            );
        }
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::setup(format!("cannot read the working directory: {e}")))?;
    let plan = Plan {
        args,
        cwd,
        credentials,
        env_files,
    };
    match (plan.args.daemon, plan.args.exec) {
        (false, false) => supervised::foreground(plan),
        (true, false) => supervised::detached(plan),
        (_, true) => exec(plan),
    }
}

/// `-u USER[:GROUP]` and `-g GROUP`, as a user and a group.
fn split_user(args: &Options) -> Result<(Option<String>, Option<String>), Failure> {
    let (user, user_group) = match args.user.as_deref().map(|u| u.split_once(':')) {
        None => (None, None),
        Some(None) => (args.user.clone(), None),
        Some(Some((u, g))) => (Some(u.to_owned()), Some(g.to_owned())),
    };
    match (user_group, &args.group) {
        (Some(_), Some(_)) => Err(Failure::usage(
            "the group is given twice: in --user USER:GROUP and in --group",
        )),
        (Some(g), None) => Ok((user, Some(g))),
        (None, g) => Ok((user, g.clone())),
    }
}

impl Plan {
    /// `path` made absolute against the caller's working directory.
    fn absolute(&self, path: &Path) -> PathBuf {
        self.cwd.join(path)
    }

    /// The command, with its environment (not yet its set-up).
    fn command(&self) -> Command {
        let mut program = PathBuf::from(&self.args.command[0]);
        // A detached process works from /: a relative path with a slash is made absolute
        // against the caller's directory (unless it is meant to be found inside a chroot or
        // a --chdir directory).
        if self.args.daemon
            && self.args.chroot.is_none()
            && self.args.chdir.is_none()
            && program.is_relative()
            && program.components().count() > 1
        {
            program = self.absolute(&program);
        }
        let mut cmd = Command::new(program);
        cmd.args(&self.args.command[1..]);
        env::apply(
            &mut cmd,
            self.args.clear_env,
            &self.env_files,
            &self.args.env,
        );
        cmd
    }

    /// The stdout and stderr files, if any.
    fn output_files(&self) -> (Option<&Path>, Option<&Path>) {
        match &self.args.output {
            Some(both) => (Some(both), Some(both)),
            None => (self.args.stdout.as_deref(), self.args.stderr.as_deref()),
        }
    }

    /// The file the command's stderr goes to, for quoting its tail when it fails.
    fn stderr_file(&self) -> Option<PathBuf> {
        self.output_files().1.map(|p| self.absolute(p))
    }

    /// The steps every mode applies to the command: root, directory, umask, limits, user.
    fn command_setup(&self) -> Setup {
        // Inherited descriptors were marked close-on-exec at start-up (see
        // `cloexec_inherited_fds`), and ours are close-on-exec: the command gets 0-2 only,
        // without a close-fds step in the child.
        let mut setup =
            Setup::new().close_fds(CLOSE_IN_CHILD.load(std::sync::atomic::Ordering::Relaxed));
        if let Some(dir) = &self.args.chroot {
            setup = setup.chroot(self.absolute(dir));
        }
        if let Some(dir) = &self.args.chdir {
            setup = setup.working_directory(if self.args.chroot.is_some() {
                dir.clone()
            } else {
                self.absolute(dir)
            });
        }
        if let Some(mask) = self.args.umask {
            setup = setup.umask(mask);
        }
        for limit in &self.args.rlimit {
            setup = setup.rlimit(*limit);
        }
        if let Some(creds) = &self.credentials {
            setup = setup.credentials(creds.clone());
        }
        setup
    }

    /// The output files as [`Stdio`] for stdout and stderr (`None`: not redirected).
    fn output_stdio(&self) -> (Option<Stdio>, Option<Stdio>) {
        let mode = self.args.output_mode;
        let (out, err) = self.output_files();
        (
            out.map(|p| Stdio::append(self.absolute(p)).mode(mode)),
            err.map(|p| Stdio::append(self.absolute(p)).mode(mode)),
        )
    }

    /// Acquires a PID file. Already running: exit 1 naming the holder (0 with `--oknodo`).
    fn acquire(&self, path: &Path, defer_write: bool) -> Result<PidFile, Failure> {
        // Absolute, so that removing it still works after a detached process moved to /.
        match PidFile::options()
            .defer_write(defer_write)
            .acquire(self.absolute(path))
        {
            Ok(pf) => Ok(pf),
            Err(e @ pidfile::Error::AlreadyRunning { .. }) => Err(Failure::new(
                if self.args.oknodo { 0 } else { 1 },
                e.to_string(),
            )),
            Err(e) => Err(Failure::setup(format!("{}: {e}", Step::PidFile))),
        }
    }

    /// The launcher's side of a failed detached start: the error, with the tail of the
    /// command's stderr when it went to a file and the command exited early.
    fn launcher_failure(&self, e: daemon::Error) -> Failure {
        let failure = match e {
            daemon::Error::Step(e) => Failure::from(e),
            daemon::Error::Died { status, .. } => {
                let code = status
                    .map(pidward::supervise::exit_code)
                    .filter(|&c| c != 0)
                    .unwrap_or(125);
                Failure {
                    early_exit: true,
                    ..Failure::new(code, e.to_string())
                }
            }
            daemon::Error::Timeout { .. } => Failure::new(124, e.to_string()),
            other => Failure::setup(other.to_string()),
        };
        self.with_stderr_tail(failure)
    }

    /// Adds the last lines of the command's stderr file, if there is one, to a failure
    /// caused by the command's early exit.
    fn with_stderr_tail(&self, mut failure: Failure) -> Failure {
        if let (true, Some(path), Some(message)) = (
            failure.early_exit,
            self.stderr_file(),
            failure.message.as_mut(),
        ) && let Some(tail) = tail(&path, 10, 2048)
        {
            message.push_str(&format!("\nlast lines of {}:\n{tail}", path.display()));
        }
        failure
    }
}

/// The last `lines` lines (at most `max` bytes) of a file, indented; `None` if empty or
/// unreadable.
fn tail(path: &Path, lines: usize, max: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(max))).ok()?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let shown: Vec<String> = all[start..].iter().map(|l| format!("  {l}")).collect();
    (!shown.is_empty()).then(|| shown.join("\n"))
}

/// `--exec`: set this process up (after detaching, with `--daemon`), then exec the command.
fn exec(plan: Plan) -> Result<u8, Failure> {
    let pid_file = match &plan.args.pidfile {
        Some(path) => Some(plan.acquire(path, plan.args.daemon)?),
        None => None,
    };
    // Keep a way to report errors after our stderr has been redirected. (Detached, errors
    // travel to the launcher over the status pipe instead.)
    let report = if plan.args.daemon { None } else { dup_stderr() };
    // Detached, the launcher waits for the exec: end of file after the exec announcement.
    let mut setup = plan.command_setup();
    let (out, err) = plan.output_stdio();
    if let Some(out) = out {
        setup = setup.stdout(out);
    }
    if let Some(err) = err {
        setup = setup.stderr(err);
    }
    if let Some(fd) = &report {
        setup = setup.keep_fd(fd.as_fd());
    }
    let mut daemon = Daemon::new(setup)
        .detach(plan.args.daemon)
        .report_ready(true);
    if let Some(pf) = pid_file {
        daemon = daemon.pid_file(pf);
    }
    let detached = match daemon.start() {
        Ok(d) => d,
        Err(e) if plan.args.daemon => return Err(plan.launcher_failure(e)),
        Err(e) => return Err(report_to(&report, plan.launcher_failure(e))),
    };
    let mut cmd = plan.command();
    let error = detached.exec(&mut cmd);
    Err(report_to(&report, Failure::from(error)))
}

/// Prints a failure on a saved descriptor (the original stderr) and returns it without a
/// message, so that it is not printed again on the redirected one.
fn report_to(fd: &Option<OwnedFd>, failure: Failure) -> Failure {
    match (fd, &failure.message) {
        (Some(fd), Some(message)) => {
            let mut file = std::fs::File::from(fd.try_clone().expect("dup of a saved stderr"));
            let _ = writeln!(file, "pidward run: {message}");
            Failure {
                message: None,
                ..failure
            }
        }
        _ => failure,
    }
}

/// A close-on-exec copy of stderr (`fcntl(F_DUPFD_CLOEXEC)`), above the standard streams.
fn dup_stderr() -> Option<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(std::io::stderr(), 3).ok()
}

/// Marks every inherited descriptor above 2 close-on-exec (`close_range(2)` with
/// `CLOSE_RANGE_CLOEXEC`), so that no command started from here inherits it. (Descriptors 0-2
/// are valid already: `startup::init` reopened any closed one on `/dev/null`.)
fn cloexec_inherited_fds() {
    // SAFETY: plain system call; on kernels without the flag, the command's set-up closes
    // them instead (see `command_setup`).
    if unsafe { libc::close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as libc::c_int) } != 0 {
        CLOSE_IN_CHILD.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
