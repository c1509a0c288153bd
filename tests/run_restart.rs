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

/// How each policy answers each cause of an end (systemd's table): the first run ends with
/// the cause, a second one (if the policy starts it) exits 99, which `--restart-prevent`
/// makes final whatever the policy.
#[test]
fn each_policy_against_each_exit_cause() {
    let s = Scratch::new();
    // (cause, how the first run ends, pidward's code when not restarted, extra flags)
    let causes: [(&str, &str, i32, &[&str]); 4] = [
        ("clean", "exit 0", 0, &[]),
        ("code", "exit 3", 3, &[]),
        ("signal", "kill -KILL $$", 128 + libc::SIGKILL, &[]),
        (
            "timeout",
            "exec sleep 30",
            124,
            &[
                "--ready",
                "notify",
                "--ready-timeout",
                "0.3",
                "--stop-schedule",
                "TERM/2/KILL/2",
            ],
        ),
    ];
    let table: [(&str, [bool; 4]); 7] = [
        ("no", [false, false, false, false]),
        ("always", [true, true, true, true]),
        ("on-success", [true, false, false, false]),
        ("on-failure", [false, true, true, true]),
        ("on-abnormal", [false, false, true, true]),
        ("on-abort", [false, false, true, false]),
        ("on-watchdog", [false, false, false, false]),
    ];
    for (policy, covers) in table {
        for ((cause, end, code, extra), restarted) in causes.iter().zip(covers) {
            let log = s.path(&format!("{policy}-{cause}"));
            let script = format!(
                "n=$(wc -l < {log} 2>/dev/null || echo 0); echo run >> {log}; [ \"$n\" -ge 1 ] && exit 99; {end}",
                log = log.display()
            );
            let mut args = vec![
                "--restart",
                policy,
                "--restart-delay",
                "0",
                "--restart-prevent",
                "99",
            ];
            args.extend_from_slice(extra);
            args.extend(["--", "sh", "-c", &script, &s.tag]);
            let (out, _) = run(&args);
            let runs = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .count();
            assert_eq!(
                runs,
                if restarted { 2 } else { 1 },
                "{policy} after {cause}: {}",
                stderr(&out)
            );
            let want = if restarted { 99 } else { *code };
            assert_eq!(
                out.status.code(),
                Some(want),
                "{policy} after {cause}: {}",
                stderr(&out)
            );
        }
    }
}

#[test]
fn success_status_and_restart_prevent_lists() {
    let s = Scratch::new();
    let count = |log: &std::path::Path| {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    // 75 and TERM count as success: on-failure does not start them again.
    for (end, code) in [("exit 75", 75), ("kill -USR1 $$", 128 + libc::SIGUSR1)] {
        let log = s.path(&format!("success-{code}"));
        let script = format!("echo run >> {}; {end}", log.display());
        let (out, _) = run(&[
            "--restart",
            "on-failure",
            "--restart-delay",
            "0",
            "--restart-limit",
            "3",
            "--success-status",
            "0,75,100-110,USR1,SIGSEGV",
            "--",
            "sh",
            "-c",
            &script,
        ]);
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        assert_eq!(count(&log), 1, "{end}");
    }
    // A code in a range of the prevent list ends even `always`.
    let log = s.path("prevent");
    let script = format!("echo run >> {}; exit 105", log.display());
    let (out, _) = run(&[
        "--restart",
        "always",
        "--restart-delay",
        "0",
        "--restart-prevent",
        "100-110,TERM",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out.status.code(), Some(105), "{}", stderr(&out));
    assert_eq!(count(&log), 1);
    // Bad lists are usage errors naming the value; nothing runs.
    for bad in ["1-300", "5-3", "NOPE", "1,,2", "x1"] {
        let marker = s.path("ran");
        for flag in ["--success-status", "--restart-prevent"] {
            let (out, _) = run(&[flag, bad, "--", "touch", marker.to_str().unwrap()]);
            assert_eq!(out.status.code(), Some(2), "{flag} {bad}");
            assert!(stderr(&out).contains(bad), "{flag} {bad}: {}", stderr(&out));
            assert!(!marker.exists());
        }
    }
}

#[test]
fn remap_exit_is_a_success_and_exits_0() {
    let s = Scratch::new();
    let (out, _) = run(&["--remap-exit", "143", "--", "sh", "-c", "exit 143"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Other codes pass through.
    let (out, _) = run(&["--remap-exit", "143", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    // A clean end for the policy: on-failure does not start it again, on-success does.
    let log = s.path("runs");
    let script = format!(
        "echo run >> {log}; [ $(wc -l < {log}) -ge 2 ] && exit 9; exit 7",
        log = log.display()
    );
    let (out, _) = run(&[
        "--remap-exit",
        "7",
        "--restart",
        "on-success",
        "--restart-delay",
        "0",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    let (out, _) = run(&["--remap-exit", "256", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("256"));
}

#[test]
fn a_long_run_resets_the_backoff() {
    let s = Scratch::new();
    let log = s.path("runs");
    // Runs 1 and 2 fail at once (delays 0.2, 0.4); run 3 lasts 0.6 s, longer than the reset
    // time, so run 4 follows after 0.2 s again, not 0.8 s.
    let script = format!(
        "{}; n=$(wc -l < {log}); [ $n -ge 4 ] && exit 0; [ $n -eq 3 ] && sleep 0.6; exit 1",
        logging(&log, ":"),
        log = log.display()
    );
    let (out, _) = run(&[
        "--restart",
        "on-failure",
        "--restart-delay",
        "0.2",
        "--restart-jitter",
        "0",
        "--restart-reset",
        "0.5",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let t = runs(&log);
    assert_eq!(t.len(), 4, "{t:?}");
    assert!(t[1] - t[0] >= 0.19 && t[2] - t[1] >= 0.38, "{t:?}");
    let gap = t[3] - t[2];
    assert!(
        (0.75..1.25).contains(&gap),
        "reset: 0.6 s run + 0.2 s, got {gap} ({t:?})"
    );
}

#[test]
fn the_reset_is_counted_from_readiness() {
    let s = Scratch::new();
    let log = s.path("runs");
    // Each run takes 0.6 s to be ready, then fails at once: it never ran 0.5 s as a ready
    // service, so the delays go on doubling (0.2, 0.4, 0.8).
    let script = format!(
        "{}; n=$(wc -l < {log}); [ $n -lt 4 ] && sleep 0.6; \"$PIDWARD\" notify --ready; [ $n -ge 4 ] && exit 0; exit 1",
        logging(&log, ":"),
        log = log.display()
    );
    let (out, _) = run(&[
        "--ready",
        "notify",
        "--restart",
        "on-failure",
        "--restart-delay",
        "0.2",
        "--restart-jitter",
        "0",
        "--restart-reset",
        "0.5",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let t = runs(&log);
    assert_eq!(t.len(), 4, "{t:?}");
    assert!(t[3] - t[2] >= 1.35, "0.6 s + 0.8 s expected: {t:?}");
}

#[test]
fn jitter_stays_within_its_bounds() {
    use pidward::supervise::{Cause, Next, Policy, Restart};
    use std::os::unix::process::ExitStatusExt;
    let failed = std::process::ExitStatus::from_raw(1 << 8);
    let mut r = Restart::new(Policy::Always)
        .delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(1))
        .jitter(0.25);
    let mut seen = Vec::new();
    for _ in 0..500 {
        match r.next(failed, Cause::Code, Duration::ZERO, false) {
            Next::After(d) => seen.push(d.as_secs_f64()),
            other => panic!("{other:?}"),
        }
    }
    let (lo, hi) = seen
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &d| (lo.min(d), hi.max(d)));
    assert!(lo >= 0.75 && hi <= 1.25, "{lo}..{hi}");
    // Uniform: both quarters of the range are reached.
    assert!(lo < 0.85 && hi > 1.15, "{lo}..{hi}");
    // Through the binary: 6 runs with a 0.2 s delay ±50 %: every gap within 0.1..0.3 s (plus
    // the command's own time), and not all alike.
    let s = Scratch::new();
    let log = s.path("runs");
    let script = format!(
        "{}; [ $(wc -l < {}) -ge 6 ] && exit 0; exit 1",
        logging(&log, ":"),
        log.display()
    );
    let (out, _) = run(&[
        "--restart",
        "on-failure",
        "--restart-delay",
        "0.2",
        "--restart-max-delay",
        "0.2",
        "--restart-jitter",
        "0.5",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let t = runs(&log);
    let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps.len(), 5, "{t:?}");
    for g in &gaps {
        assert!((0.095..0.6).contains(g), "{gaps:?}");
    }
}

#[test]
fn the_limit_gives_up_with_the_last_status_and_status_says_failed() {
    let s = Scratch::new();
    let pid = s.path("svc.pid");
    let log = s.path("runs");
    let script = format!("echo run >> {}; exit 5", log.display());
    let (out, _) = run(&[
        "-p",
        pid.to_str().unwrap(),
        "--restart",
        "always",
        "--restart-delay",
        "0",
        "--restart-limit",
        "3",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 3);
    assert!(!pid.exists());
    let st = pidward()
        .args(["status", pid.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(3));
    let line = stdout(&st);
    assert!(line.contains("failed: exited with code 5"), "{line}");
    let st = pidward()
        .args(["status", "--json", pid.to_str().unwrap()])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["service"]["state"], "failed", "{v}");
    assert_eq!(v["service"]["consecutive_failures"], 3);
    assert_eq!(v["service"]["last_exit"]["code"], 5);
    assert_eq!(v["service"]["history"].as_array().unwrap().len(), 3);
    // A new start replaces the record.
    let (out, _) = run(&["-p", pid.to_str().unwrap(), "--", "true"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!pidward::supervise::StateFile::beside(&pid).path().exists());

    // N within SECS: 3 failures within 0.5 s give up; 0.3 s apart they never do.
    let log = s.path("window");
    let script = format!("echo run >> {}; exit 6", log.display());
    let (out, _) = run(&[
        "--restart",
        "always",
        "--restart-delay",
        "0.01",
        "--restart-limit",
        "3/0.5",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 3);
    let log = s.path("slow");
    let mut pw = spawn(&[
        "--restart",
        "always",
        "--restart-delay",
        "0.3",
        "--restart-jitter",
        "0",
        "--restart-limit",
        "3/0.5",
        "--",
        "sh",
        "-c",
        &format!("echo run >> {}; exit 6", log.display()),
        &s.tag,
    ]);
    s.adopt(pw.id());
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
            >= 5
    }));
    assert_eq!(pw.try_wait().unwrap(), None, "gave up too early");
    signal(&pw, libc::SIGTERM);
    assert_eq!(pw.wait().unwrap().code(), Some(6));
    for bad in ["0", "x", "3/", "3/-1", "-1"] {
        let (out, _) = run(&["--restart-limit", bad, "--", "true"]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(stderr(&out).contains(bad), "{bad}: {}", stderr(&out));
    }
}

/// A TERM that reaches pidward just as the run ends is an administrative stop like any
/// other: no restart, ever. The test waits for the command's exit on a pidfd of its own and
/// sends `TERM` to pidward that very moment, while pidward is ending the run.
#[test]
fn a_stop_as_the_run_ends_is_not_followed_by_a_restart() {
    let s = Scratch::new();
    for i in 0..8 {
        let log = s.path(&format!("race-{i}"));
        let child = s.path(&format!("child-{i}.pid"));
        let mut pw = spawn(&[
            "--child-pidfile",
            child.to_str().unwrap(),
            "--restart",
            "always",
            "--restart-delay",
            "0.3",
            "--",
            "sh",
            "-c",
            &format!("echo run >> {}; sleep 0.1; exit 1", log.display()),
            &s.tag,
        ]);
        s.adopt(pw.id());
        let pid = read_pid(&child);
        let pidfd = rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(pid as i32).unwrap(),
            rustix::process::PidfdFlags::empty(),
        )
        .unwrap();
        let mut fds = [rustix::event::PollFd::new(
            &pidfd,
            rustix::event::PollFlags::IN,
        )];
        rustix::event::poll(&mut fds, None).unwrap();
        signal(&pw, libc::SIGTERM);
        assert_eq!(pw.wait().unwrap().code(), Some(1), "try {i}");
        std::thread::sleep(Duration::from_millis(100));
        let runs = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count();
        assert_eq!(runs, 1, "try {i}: restarted after a stop");
    }
}

/// A stop during a later run's start (the command, killed by the forwarded `TERM`, dies
/// before it is ready) is a stop too, not a failed start to retry.
#[test]
fn a_stop_during_a_start_is_not_followed_by_a_restart() {
    let s = Scratch::new();
    let log = s.path("runs");
    let script = format!(
        "echo run >> {log}; [ $(wc -l < {log}) -ge 2 ] && exec sleep 30; exit 1",
        log = log.display()
    );
    let mut pw = spawn(&[
        "--ready",
        "notify",
        "--restart",
        "always",
        "--restart-delay",
        "0.1",
        "--",
        "sh",
        "-c",
        &script,
        &s.tag,
    ]);
    s.adopt(pw.id());
    let count = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert!(wait_until(Duration::from_secs(5), || count() == 2));
    std::thread::sleep(Duration::from_millis(200));
    signal(&pw, libc::SIGTERM);
    assert_eq!(pw.wait().unwrap().code(), Some(128 + libc::SIGTERM));
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(count(), 2, "restarted after a stop");
}
