//! `pidward run --restart`: policies, backoff, and the fixed rules (never after an
//! administrative stop or a set-up/exec failure; a stop during the delay is immediate; HUP
//! during the delay starts the command now).

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::run::*;

/// `pidward run ARGS` in the background.
fn spawn(args: &[&str]) -> Child {
    pidward()
        .arg("run")
        .args(args)
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) of a process this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// The lines of a log the command appends to, one per run.
fn runs(log: &std::path::Path) -> Vec<f64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// A script that logs the time of each run (seconds, fractional) and exits with `code`.
fn logging(log: &std::path::Path, code: &str) -> String {
    format!(
        "perl -MTime::HiRes=time -e 'printf qq(%.3f\\n), time' >> {}; {code}",
        log.display()
    )
}

#[test]
fn on_failure_backs_off_doubling_until_success() {
    let s = Scratch::new();
    let log = s.path("runs");
    let script = format!(
        "{}; [ $(wc -l < {}) -ge 3 ] && exit 0; exit 1",
        logging(&log, ":"),
        log.display()
    );
    let (out, took) = run(&[
        "--restart",
        "on-failure",
        "--restart-delay",
        "0.2",
        "--restart-jitter",
        "0",
        "--",
        "sh",
        "-c",
        &script,
        &s.tag,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let t = runs(&log);
    assert_eq!(t.len(), 3, "{t:?}");
    // Delays of 0.2 s, then 0.4 s.
    assert!(t[1] - t[0] >= 0.19, "{t:?}");
    assert!(t[2] - t[1] >= 0.38, "{t:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // A success ends on-failure at once; `no` never restarts.
    for policy in ["on-failure", "no"] {
        let log = s.path(policy);
        let (out, _) = run(&[
            "--restart",
            policy,
            "--restart-delay",
            "0",
            "--",
            "sh",
            "-c",
            &logging(&log, if policy == "no" { "exit 3" } else { "exit 0" }),
        ]);
        assert_eq!(out.status.code(), Some(if policy == "no" { 3 } else { 0 }));
        assert_eq!(runs(&log).len(), 1);
    }
}

#[test]
fn a_stop_is_never_followed_by_a_restart() {
    let s = Scratch::new();
    let log = s.path("runs");
    // During a run: TERM is forwarded, the command dies of it, and that is the end.
    let mut pw = spawn(&[
        "--restart",
        "always",
        "--restart-delay",
        "0",
        "--",
        "sh",
        "-c",
        &logging(&log, "exec sleep 30"),
        &s.tag,
    ]);
    s.adopt(pw.id());
    assert!(wait_until(Duration::from_secs(5), || runs(&log).len() == 1));
    std::thread::sleep(Duration::from_millis(200));
    signal(&pw, libc::SIGTERM);
    assert_eq!(pw.wait().unwrap().code(), Some(128 + libc::SIGTERM));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(runs(&log).len(), 1, "restarted after a stop");

    // During the delay: pidward ends at once, without waiting it out.
    let log = s.path("backoff");
    let mut pw = spawn(&[
        "--restart",
        "always",
        "--restart-delay",
        "30",
        "--",
        "sh",
        "-c",
        &logging(&log, "exit 4"),
        &s.tag,
    ]);
    s.adopt(pw.id());
    assert!(wait_until(Duration::from_secs(5), || runs(&log).len() == 1));
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    signal(&pw, libc::SIGTERM);
    assert_eq!(pw.wait().unwrap().code(), Some(4), "the last run's status");
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(runs(&log).len(), 1);
}

#[test]
fn hup_during_the_delay_starts_the_command_now() {
    let s = Scratch::new();
    let log = s.path("runs");
    let mut pw = spawn(&[
        "--restart",
        "on-failure",
        "--restart-delay",
        "30",
        "--",
        "sh",
        "-c",
        &format!(
            "{}; [ $(wc -l < {}) -ge 2 ] && exit 0; exit 1",
            logging(&log, ":"),
            log.display()
        ),
        &s.tag,
    ]);
    s.adopt(pw.id());
    assert!(wait_until(Duration::from_secs(5), || runs(&log).len() == 1));
    std::thread::sleep(Duration::from_millis(300));
    signal(&pw, libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(3), || runs(&log).len() == 2),
        "HUP did not start it"
    );
    assert_eq!(pw.wait().unwrap().code(), Some(0));
}

#[test]
fn set_up_and_exec_failures_are_final() {
    let s = Scratch::new();
    let started = Instant::now();
    let (out, _) = run(&[
        "--restart",
        "always",
        "--restart-delay",
        "0",
        "--",
        "/nonexistent/cmd",
    ]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    let missing = s.path("missing");
    let (out, _) = run(&[
        "--restart",
        "always",
        "-C",
        missing.to_str().unwrap(),
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(3));
}
