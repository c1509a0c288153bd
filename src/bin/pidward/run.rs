//! `pidward run [OPTIONS] [--] COMMAND [ARGS...]`: start a command properly and tell the
//! caller the truth about the start.
//!
//! Three ways to run, all built from [`pidward::daemon`], [`pidward::supervise`],
//! [`pidward::notify`] and [`pidward::pidfile`]:
//!
//! - **Supervised** (default): pidward stays in the foreground as the command's parent. It
//!   forwards every catchable signal to it ([`pidward::supervise::forwardable`]: all but
//!   `CHLD` and the synchronous ones), adopts and reaps its orphans
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
//! Whichever way, a stale PID file whose supervisor died leaving processes in its cgroup
//! ([`pidward::supervise::leftover`]) refuses the start (exit 1): that would be a second copy.
//!
//! Exit codes: the command's (or 128+N); 1 already running (0 with `--oknodo`); 2 usage;
//! 124 readiness timeout; 125 a set-up step failed (the message names it); 126 the command
//! cannot be executed; 127 it was not found.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use pidward::child::{Exec, Setup, Stdio, Step};
use pidward::log::Dest;
use pidward::pidfile::{self, PidFile};
use pidward::privileges::Credentials;

pub mod args;
pub mod env;
mod exec;
mod failure;
pub mod log_args;
mod logging;
mod supervised;

pub use args::{Args, Options, ReadyMode};
use failure::Failure;

/// Set when inherited descriptors could not be marked close-on-exec at start-up (a kernel
/// older than 5.11): the command's set-up then closes them in the child.
static CLOSE_IN_CHILD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[inline(never)]
pub fn main(args: Args) -> u8 {
    cloexec_inherited_fds();
    match run(args.options) {
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
    /// On the heap, as the parser left it: moved by value it would be copied into the
    /// frame of every function it passes through, and a supervisor keeps that stack resident.
    args: Box<Options>,
    /// The caller's working directory: relative paths are relative to it, even after a
    /// detached process moved to `/`.
    cwd: PathBuf,
    credentials: Option<Credentials>,
    env_files: Vec<Vec<(OsString, OsString)>>,
    /// The lifecycle log (its files are open already).
    life: std::rc::Rc<pidward::log::LifecycleLog>,
}

fn run(args: Box<Options>) -> Result<u8, Failure> {
    let (user, group) = split_user(&args)?;
    if args.exec && !matches!(args.ready, None | Some(ReadyMode::Exec)) {
        return Err(Failure::usage(
            "--ready other than exec needs a supervisor, which --exec does without",
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
    if let Some(path) = &args.pidfile {
        refuse_leftover(path)?;
    }
    // Before the PID files: a log that cannot be opened leaves nothing behind.
    let life = std::rc::Rc::new(logging::open(&args, &cwd)?);
    let plan = Plan {
        args,
        cwd,
        credentials,
        env_files,
        life: life.clone(),
    };
    let result = match (plan.args.daemon, plan.args.exec) {
        (false, false) => supervised::foreground(plan),
        (true, false) => supervised::detached(plan),
        (_, true) => exec::exec(plan),
    };
    life.flush();
    match &result {
        Ok(code) => life.exit(*code, None),
        Err(f) => life.exit(f.code, f.message.as_deref()),
    }
    result
}

/// A stale PID file whose supervisor died leaving processes in its cgroup: the service still
/// runs in part, and a start would make a second copy. Exit 1; the files stay as they are.
#[inline(never)]
fn refuse_leftover(path: &Path) -> Result<(), Failure> {
    let Some(left) = pidward::supervise::leftover(path) else {
        return Ok(());
    };
    let pids: Vec<String> = left.pids.iter().map(|p| p.to_string()).collect();
    Err(Failure::new(
        1,
        format!(
            "{}: supervisor PID {} died, leaving PIDs {} running in {}; not starting a second \
             copy (pidward stop {} stops them)",
            path.display(),
            left.supervisor,
            pids.join(", "),
            left.cgroup.display(),
            path.display()
        ),
    ))
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
    /// The restart policy of `--restart` and its backoff options.
    fn restart(&self) -> pidward::supervise::Restart {
        let a = &self.args;
        let mut r = pidward::supervise::Restart::new(a.restart.0)
            .delay(a.restart_delay)
            .max_delay(a.restart_max_delay)
            .jitter(a.restart_jitter)
            .reset_after(a.restart_reset)
            .success(a.success_status.clone().unwrap_or_default())
            .prevent(a.restart_prevent.clone().unwrap_or_default());
        for &code in &a.remap_exit {
            r = r.remap_exit(code);
        }
        if let Some(limit) = a.restart_limit {
            r = r.limit(limit.0, limit.1);
        }
        r
    }

    /// `path` made absolute against the caller's working directory.
    fn absolute(&self, path: &Path) -> PathBuf {
        self.cwd.join(path)
    }

    /// The command, with its environment (not yet its set-up).
    fn command(&self) -> Exec {
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
        let mut cmd = Exec::new(program);
        cmd.args(&self.args.command[1..]);
        env::apply(
            &mut cmd,
            self.args.clear_env,
            &self.env_files,
            &self.args.env,
        );
        cmd
    }

    /// Where stdout and stderr go, if anywhere else than pidward's own.
    fn output_dests(&self) -> (Option<&Dest>, Option<&Dest>) {
        logging::output_dests(&self.args)
    }

    /// The file the command's stderr goes to, for quoting its tail when it fails.
    fn stderr_file(&self) -> Option<PathBuf> {
        match self.output_dests().1 {
            Some(Dest::File(p)) => Some(self.absolute(p)),
            _ => None,
        }
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

    /// Stdout and stderr as [`Stdio`] (`None`: not redirected): those that go through the
    /// output relay (`relayed`), or the others.
    fn output_stdio(&self, relayed: bool) -> (Option<Stdio>, Option<Stdio>) {
        logging::stdio(self, relayed)
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
