//! A small program that daemonizes itself with `pidward::daemon::Daemon`.
//!
//! It shows the builder from a program's point of view, and the tests of the `Daemon`
//! builder run it in a separate process (code that forks is never tested inside the
//! multithreaded test harness).
//!
//! ```text
//! cargo run --example daemon_demo -- --pidfile /tmp/demo.pid --linger 10
//! ```
//!
//! The launcher exits 0 once the detached process reported; on failure it prints the error
//! and exits 125 (a step failed), 124 (no report in time), 3 (threads) or 1 (died silently).
//! The detached process prints one line on stdout and one on stderr, lingers, and exits.

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pidward::child::{Error as StepError, Rlimit, Setup, Stdio, Step};
use pidward::daemon::{Daemon, Error};
use pidward::pidfile::PidFile;

#[derive(Parser)]
struct Args {
    /// PID file to acquire (deferred write) and hand to the daemon.
    #[arg(long)]
    pidfile: Option<PathBuf>,
    #[arg(long)]
    chroot: Option<PathBuf>,
    #[arg(long)]
    chdir: Option<PathBuf>,
    /// Octal.
    #[arg(long, value_parser = |s: &str| u32::from_str_radix(s, 8))]
    umask: Option<u32>,
    #[arg(long)]
    stdout: Option<PathBuf>,
    #[arg(long)]
    stderr: Option<PathBuf>,
    /// Mode of created output files (octal).
    #[arg(long, value_parser = |s: &str| u32::from_str_radix(s, 8), default_value = "640")]
    output_mode: u32,
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    group: Option<String>,
    /// Switch only the effective ids.
    #[arg(long)]
    euid: bool,
    #[arg(long)]
    rlimit: Vec<Rlimit>,
    /// Do not detach (twistd's --nodaemon).
    #[arg(long)]
    nodaemon: bool,
    /// Report readiness this many milliseconds after start-up (the launcher waits).
    #[arg(long)]
    ready_after_ms: Option<u64>,
    /// Launcher's report timeout, in milliseconds.
    #[arg(long)]
    report_timeout_ms: Option<u64>,
    /// Report this failure instead of readiness.
    #[arg(long)]
    fail: Option<String>,
    /// Die by SIGKILL before reporting readiness.
    #[arg(long)]
    kill_self: bool,
    /// Start a thread before starting (detaching must then refuse).
    #[arg(long)]
    spawn_thread: bool,
    /// Open this file before starting and keep its descriptor in the daemon.
    #[arg(long)]
    keep_open: Option<PathBuf>,
    /// Open this file before starting and do not keep it (it must be closed).
    #[arg(long)]
    leak_open: Option<PathBuf>,
    /// Seconds the detached process stays alive.
    #[arg(long, default_value = "30")]
    linger: f64,
    /// Ignored: lets a test tag its processes so it can find them in /proc.
    #[arg(long)]
    tag: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.spawn_thread {
        std::thread::spawn(|| std::thread::sleep(Duration::from_secs(5)));
    }
    let pid_file = match &args.pidfile {
        Some(path) => match PidFile::options().defer_write(true).acquire(path) {
            Ok(pf) => Some(pf),
            Err(e) => {
                eprintln!("daemon_demo: {e}");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let mut setup = Setup::new();
    if let Some(dir) = &args.chroot {
        setup = setup.chroot(dir);
    }
    if let Some(dir) = &args.chdir {
        setup = setup.working_directory(dir);
    }
    if let Some(mask) = args.umask {
        setup = setup.umask(mask);
    }
    if let Some(path) = &args.stdout {
        setup = setup.stdout(Stdio::append(path).mode(args.output_mode));
    }
    if let Some(path) = &args.stderr {
        setup = setup.stderr(Stdio::append(path).mode(args.output_mode));
    }
    if let Some(user) = &args.user {
        setup = setup.user(user);
    }
    if let Some(group) = &args.group {
        setup = setup.group(group);
    }
    for limit in &args.rlimit {
        setup = setup.rlimit(*limit);
    }
    let kept = args
        .keep_open
        .as_ref()
        .map(|p| std::fs::File::open(p).expect("open --keep-open file"));
    if let Some(file) = &kept {
        setup = setup.keep_fd(file.as_fd());
    }
    let leaked = args
        .leak_open
        .as_ref()
        .map(|p| std::fs::File::open(p).expect("open --leak-open file"));
    let waits = args.ready_after_ms.is_some() || args.fail.is_some() || args.kill_self;
    let mut daemon = Daemon::new(setup.effective_only(args.euid))
        .detach(!args.nodaemon)
        .report_ready(waits);
    if let Some(pf) = pid_file {
        daemon = daemon.pid_file(pf);
    }
    if let Some(ms) = args.report_timeout_ms {
        daemon = daemon.report_timeout(Duration::from_millis(ms));
    }

    let mut detached = match daemon.start() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("daemon_demo: {e}");
            return ExitCode::from(match e {
                Error::Step(_) => 125,
                Error::Timeout { .. } => 124,
                Error::Threaded(_) => 3,
                _ => 1,
            });
        }
    };
    // The descriptor of an unkept file was closed by the daemon: do not close it again.
    if let Some(file) = leaked
        && !args.nodaemon
    {
        std::mem::forget(file);
    }

    // From here on: the detached process (or this one, with --nodaemon).
    println!("daemon_demo: running as PID {}", std::process::id());
    eprintln!("daemon_demo: stderr of PID {}", std::process::id());
    if args.kill_self {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
    if let Some(message) = &args.fail {
        let _ = detached.fail(&StepError::new(Step::Service, 0, message.clone()));
        return ExitCode::from(1);
    }
    if let Some(ms) = args.ready_after_ms {
        std::thread::sleep(Duration::from_millis(ms));
        if let Err(e) = detached.ready() {
            eprintln!("daemon_demo: reporting readiness: {e}");
        }
    }
    std::thread::sleep(Duration::from_secs_f64(args.linger));
    drop(kept);
    drop(detached); // removes the PID file (or logs why it cannot)
    ExitCode::SUCCESS
}
