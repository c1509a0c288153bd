//! Drives [`pidward::supervise`] from the command line, for the tests in `tests/supervise_*.rs`
//! (code that blocks signals and forks is tested in its own process, never inside the test
//! harness).
//!
//! ```text
//! supervise_demo [--forward SIG,..] [--subreaper] [--keep-ignored] [--ignore SIG,..]
//!                [--block SIG,..] [--raise-before SIG,..] [--raise-in-child SIG,..]
//!                [--manual] [--report]
//!                -- COMMAND [ARGS..]
//! ```
//!
//! Prints `pid=N` once the command runs, then `status=CODE`, and exits with that code.
//! `--ignore` sets `SIG_IGN` for those signals before spawning, `--block` blocks them;
//! `--raise-before` blocks them and sends them to this process, so that they are pending when
//! `spawn_exec` begins;
//! `--raise-in-child` makes them arrive between the clone and the exec, that is, while we are
//! inside `spawn_exec`; `--manual` runs its own
//! `poll(2)` loop over `pidfd()` and `signal_fd()` instead of `wait()`; `--report` prints the
//! signal mask (`SigBlk` of /proc/self/status) and the `SIGCHLD` disposition before and after,
//! and how many exited children are left unreaped at the end.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::process::ExitCode;
use std::thread::JoinHandle;
use std::time::Duration;

use pidward::Signal;
use pidward::child::{Exec, Setup};
use pidward::supervise::{Error, Supervisor, exit_code};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fs::{OFlags, fcntl_setfl as set_status_flags};
use rustix::pipe::{PipeFlags, pipe_with};

fn signals(list: &str) -> Vec<Signal> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("signal name"))
        .collect()
}

fn sigblk() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .unwrap()
        .trim()
        .to_owned()
}

fn sigchld_ignored() -> bool {
    let mut old = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: query only.
    unsafe {
        libc::sigaction(libc::SIGCHLD, std::ptr::null(), old.as_mut_ptr());
        old.assume_init().sa_sigaction == libc::SIG_IGN
    }
}

/// Children of this process that have exited and not been reaped.
fn zombie_children() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            f.len() > 1 && f[0] == "Z" && f[1] == me
        })
        .count()
}

/// The kind of a spawn error, as std would report it (`NotFound`, `PermissionDenied`, ...).
fn error_kind(e: &Error) -> std::io::ErrorKind {
    match e {
        Error::Setup(step) => step.os_error().kind(),
        Error::Loop { source, .. } => source.kind(),
        other => panic!("unexpected spawn error {other}"),
    }
}

/// `--raise-in-child`: makes the child's first set-up step wait, between clone and exec, until
/// a thread of ours has sent `signals` to this process, while `spawn_exec` has not returned.
///
/// That step is the cgroup join, given a pipe filled to the brim instead of a `cgroup.procs`
/// file: the child's `write(2)` of "0" blocks. The thread waits until the main thread has a
/// child (the clone happened, so the recording handlers are in place), sends the signals
/// (they reach the thread itself: the spawning thread blocks every signal around the clone),
/// then reads the pipe, which lets the child go on to exec.
fn raise_during_spawn(setup: Setup, signals: Vec<Signal>) -> (Setup, JoinHandle<OwnedFd>) {
    let (read, write) = pipe_with(PipeFlags::CLOEXEC).unwrap();
    set_status_flags(&write, OFlags::NONBLOCK).unwrap();
    let chunk = [0u8; 4096];
    loop {
        match rustix::io::write(&write, &chunk) {
            Ok(_) => {}
            Err(rustix::io::Errno::AGAIN) => break,
            Err(e) => panic!("filling the pipe: {e}"),
        }
    }
    // A pipe accepts a smaller write while it has room for it; fill the last bytes one by one.
    while rustix::io::write(&write, &chunk[..1]).is_ok() {}
    set_status_flags(&write, OFlags::empty()).unwrap();
    let children = format!(
        "/proc/self/task/{}/children",
        rustix::thread::gettid().as_raw_nonzero()
    );
    let raiser = std::thread::spawn(move || {
        while std::fs::read_to_string(&children)
            .unwrap()
            .trim()
            .is_empty()
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        for signal in &signals {
            // SAFETY: kill(2) to this process.
            unsafe { libc::kill(libc::getpid(), signal.as_raw()) };
        }
        let mut buf = [0u8; 4096];
        rustix::io::read(&read, &mut buf).unwrap();
        // Kept open until the child has exec'd: its write must not meet a closed pipe.
        read
    });
    (setup.cgroup(write, "raise-in-child pipe"), raiser)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut sup = Supervisor::new();
    let (mut manual, mut report) = (false, false);
    let mut raise: Vec<Signal> = Vec::new();
    loop {
        match args.next().as_deref() {
            Some("--forward") => sup = sup.forward(&signals(&args.next().unwrap())),
            Some("--subreaper") => sup = sup.subreaper(true),
            Some("--keep-ignored") => sup = sup.reset_ignored(false),
            Some("--ignore") => {
                for s in signals(&args.next().unwrap()) {
                    // SAFETY: setting SIG_IGN for a catchable signal.
                    unsafe { libc::signal(s.as_raw(), libc::SIG_IGN) };
                }
            }
            Some("--block") => {
                // SAFETY: plain sigset and pthread_sigmask calls on a local set.
                unsafe {
                    let mut set = std::mem::zeroed();
                    libc::sigemptyset(&mut set);
                    for s in signals(&args.next().unwrap()) {
                        libc::sigaddset(&mut set, s.as_raw());
                    }
                    libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                }
            }
            Some("--raise-before") => {
                let list = signals(&args.next().unwrap());
                // SAFETY: plain sigset and pthread_sigmask calls on a local set, then kill(2)
                // of this process with signals it now blocks.
                unsafe {
                    let mut set = std::mem::zeroed();
                    libc::sigemptyset(&mut set);
                    for s in &list {
                        libc::sigaddset(&mut set, s.as_raw());
                    }
                    libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                    for s in &list {
                        libc::kill(libc::getpid(), s.as_raw());
                    }
                }
            }
            Some("--raise-in-child") => raise = signals(&args.next().unwrap()),
            Some("--manual") => manual = true,
            Some("--report") => report = true,
            Some("--") => break,
            other => panic!("unexpected argument {other:?}"),
        }
    }
    let argv: Vec<String> = args.collect();
    let mut exec = Exec::new(&argv[0]);
    exec.args(&argv[1..]);
    let (setup, raiser) = if raise.is_empty() {
        (Setup::new(), None)
    } else {
        let (setup, raiser) = raise_during_spawn(Setup::new(), raise);
        (setup, Some(raiser))
    };
    if report {
        println!("mask-before={}", sigblk());
        println!("chld-ignored-before={}", sigchld_ignored());
    }
    let mut child = match sup.spawn_exec(setup, &exec) {
        // (A start that failed before the clone leaves the raiser waiting: the exit ends it.)
        Ok(c) => {
            if let Some(raiser) = raiser {
                drop(raiser.join().unwrap());
            }
            c
        }
        Err(e) => {
            println!("spawn-error={:?}", error_kind(&e));
            if report {
                println!("mask-after={}", sigblk());
                println!("chld-ignored-after={}", sigchld_ignored());
            }
            return ExitCode::from(1);
        }
    };
    println!("pid={}", child.pid());
    std::io::stdout().flush().unwrap();
    let status = if manual {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                drop(child);
                break status;
            }
            let signalled = {
                let (sfd, pfd) = (child.signal_fd(), child.pidfd());
                let mut fds = [
                    PollFd::new(&sfd, PollFlags::IN),
                    PollFd::new(&pfd, PollFlags::IN),
                ];
                let _ = poll(&mut fds, None);
                !fds[0].revents().is_empty()
            };
            if signalled {
                child.handle_signals().unwrap();
            }
        }
    } else {
        child.wait().unwrap()
    };
    if report {
        println!("mask-after={}", sigblk());
        println!("chld-ignored-after={}", sigchld_ignored());
        println!("zombies-after={}", zombie_children());
    }
    println!("status={}", exit_code(status));
    ExitCode::from(exit_code(status))
}
