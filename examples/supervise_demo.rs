//! Drives [`pidward::supervise`] from the command line, for the tests in `tests/supervise_*.rs`
//! (code that blocks signals and forks is tested in its own process, never inside the test
//! harness).
//!
//! ```text
//! supervise_demo [--forward SIG,..] [--subreaper] [--keep-ignored] [--ignore SIG,..]
//!                [--block SIG,..] [--raise-in-child SIG,..] [--manual] [--report]
//!                -- COMMAND [ARGS..]
//! ```
//!
//! Prints `pid=N` once the command runs, then `status=CODE`, and exits with that code.
//! `--ignore` sets `SIG_IGN` for those signals before spawning, `--block` blocks them;
//! `--raise-in-child` makes the child send them to us between fork and exec, that is, while
//! we are inside `spawn`; `--manual` runs its own
//! `poll(2)` loop over `pidfd()` and `signal_fd()` instead of `wait()`; `--report` prints the
//! signal mask (`SigBlk` of /proc/self/status) and the `SIGCHLD` disposition before and after,
//! and how many exited children are left unreaped at the end.

use std::io::Write;
use std::process::{Command, ExitCode};

use pidward::Signal;
use pidward::supervise::{Supervisor, exit_code};
use rustix::event::{PollFd, PollFlags, poll};

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
            Some("--raise-in-child") => raise = signals(&args.next().unwrap()),
            Some("--manual") => manual = true,
            Some("--report") => report = true,
            Some("--") => break,
            other => panic!("unexpected argument {other:?}"),
        }
    }
    let argv: Vec<String> = args.collect();
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    if !raise.is_empty() {
        let raise: Vec<i32> = raise.iter().map(|s| s.as_raw()).collect();
        let hook = move || {
            // In the child before exec: signal the supervisor while it is inside `spawn`.
            // kill(2) and getppid(2) are async-signal-safe; `raise` was built before the fork.
            for &sig in &raise {
                // SAFETY: plain syscalls.
                unsafe { libc::kill(libc::getppid(), sig) };
            }
            Ok(())
        };
        // SAFETY: the hook is async-signal-safe.
        unsafe { std::os::unix::process::CommandExt::pre_exec(&mut cmd, hook) };
    }
    if report {
        println!("mask-before={}", sigblk());
        println!("chld-ignored-before={}", sigchld_ignored());
    }
    let mut child = match sup.spawn(&mut cmd) {
        Ok(c) => c,
        Err(e) => {
            println!("spawn-error={:?}", e.kind());
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
