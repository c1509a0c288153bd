//! `pidward run --watchdog SECS`: the command gets `WATCHDOG_USEC` and a notify socket, must
//! send `WATCHDOG=1` once per timeout after its start, and is sent `--watchdog-signal`
//! (default ABRT) then the stop schedule when it does not; `WATCHDOG=trigger` and
//! `WATCHDOG_USEC=` are honoured; the cause of such an end is `watchdog` for `--restart`.

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::run::*;

fn spawn(args: &[&str]) -> Child {
    pidward()
        .arg("run")
        .args(args)
        .env("PIDWARD", exe())
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_missed_deadline_sends_abrt_after_the_last_ping() {
    let s = Scratch::new();
    let env = s.path("env");
    // Five pings 0.2 s apart keep a 0.5 s watchdog happy; then silence.
    let script = format!(
        "echo \"$WATCHDOG_USEC $NOTIFY_SOCKET\" > {}; \
         for i in 1 2 3 4 5; do sleep 0.2; \"$PIDWARD\" notify WATCHDOG=1; done; exec sleep 30",
        env.display()
    );
    let (out, took) = run(&[
        "--watchdog",
        "0.5",
        "--rlimit",
        "core=0",
        "--",
        "sh",
        "-c",
        &script,
        &s.tag,
    ]);
    assert_eq!(
        out.status.code(),
        Some(128 + libc::SIGABRT),
        "{}",
        stderr(&out)
    );
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(6),
        "{took:?}"
    );
    let seen = std::fs::read_to_string(&env).unwrap();
    let (usec, socket) = seen.trim().split_once(' ').unwrap();
    assert_eq!(usec, "500000");
    assert!(!socket.is_empty(), "no NOTIFY_SOCKET: {seen:?}");
}

#[test]
fn a_command_that_ignores_the_signal_gets_the_stop_schedule() {
    let s = Scratch::new();
    let started = Instant::now();
    let (out, _) = run(&[
        "--watchdog",
        "0.3",
        "--watchdog-signal",
        "USR1",
        "--stop-schedule",
        "TERM/0.5/KILL/1",
        "--",
        "sh",
        "-c",
        "trap '' USR1 TERM; while :; do sleep 0.05; done",
        &s.tag,
    ]);
    // USR1 ignored, 0.5 s (the schedule's first wait), TERM ignored, 0.5 s, KILL.
    assert_eq!(
        out.status.code(),
        Some(128 + libc::SIGKILL),
        "{}",
        stderr(&out)
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1200) && took < Duration::from_secs(6),
        "{took:?}"
    );
    assert!(s.stray().is_empty(), "{:?}", s.stray());
}

#[test]
fn pings_keep_it_alive_and_trigger_fires_at_once() {
    let s = Scratch::new();
    let (out, _) = run(&[
        "--watchdog",
        "0.4",
        "--ready",
        "notify",
        "--",
        "sh",
        "-c",
        "\"$PIDWARD\" notify --ready; for i in $(seq 12); do sleep 0.1; \"$PIDWARD\" notify WATCHDOG=1; done; exit 0",
        &s.tag,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let (out, took) = run(&[
        "--watchdog",
        "30",
        "--watchdog-signal",
        "TERM",
        "--",
        "sh",
        "-c",
        "sleep 0.2; \"$PIDWARD\" notify WATCHDOG=trigger; exec sleep 30",
        &s.tag,
    ]);
    assert_eq!(
        out.status.code(),
        Some(128 + libc::SIGTERM),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn watchdog_usec_changes_the_timeout() {
    let s = Scratch::new();
    // A longer timeout from the command: silence for 1 s is fine under 2 s.
    let (out, _) = run(&[
        "--watchdog",
        "0.3",
        "--",
        "sh",
        "-c",
        "\"$PIDWARD\" notify WATCHDOG_USEC=2000000; sleep 1; exit 0",
        &s.tag,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A shorter one: 30 s becomes 0.3 s.
    let (out, took) = run(&[
        "--watchdog",
        "30",
        "--watchdog-signal",
        "TERM",
        "--",
        "sh",
        "-c",
        "\"$PIDWARD\" notify WATCHDOG_USEC=300000; exec sleep 30",
        &s.tag,
    ]);
    assert_eq!(
        out.status.code(),
        Some(128 + libc::SIGTERM),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    // 0 turns it off.
    let (out, _) = run(&[
        "--watchdog",
        "0.2",
        "--",
        "sh",
        "-c",
        "\"$PIDWARD\" notify WATCHDOG_USEC=0; sleep 0.8; exit 0",
        &s.tag,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_watchdog_is_a_cause_for_the_restart_policy() {
    let s = Scratch::new();
    let pid = s.path("svc.pid");
    let log = s.path("runs");
    let mut pw = spawn(&[
        "-p",
        pid.to_str().unwrap(),
        "--watchdog",
        "0.3",
        "--watchdog-signal",
        "TERM",
        "--restart",
        "on-watchdog",
        "--restart-delay",
        "30",
        "--",
        "sh",
        "-c",
        &format!("echo run >> {}; exec sleep 30", log.display()),
        &s.tag,
    ]);
    s.adopt(pw.id());
    // TERM is a clean signal for systemd's table, but the cause here is the watchdog.
    let status = || {
        let out = pidward()
            .args(["status", "--json", pid.to_str().unwrap()])
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert!(wait_until(Duration::from_secs(5), || {
        status()["service"]["state"] == "backoff"
    }));
    let v = status();
    assert_eq!(v["service"]["last_exit"]["cause"], "watchdog", "{v}");
    assert_eq!(v["service"]["last_exit"]["signal"], "TERM", "{v}");
    kill(pw.id(), libc::SIGTERM);
    assert_eq!(pw.wait().unwrap().code(), Some(128 + libc::SIGTERM));
    // on-watchdog does not start a run that exited by itself again.
    let (out, _) = run(&[
        "--watchdog",
        "5",
        "--restart",
        "on-watchdog",
        "--restart-delay",
        "0",
        "--",
        "sh",
        "-c",
        &format!("echo run >> {}; exit 3", s.path("once").display()),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        std::fs::read_to_string(s.path("once"))
            .unwrap()
            .lines()
            .count(),
        1
    );
    for bad in [["--watchdog", "soon"], ["--watchdog-signal", "NOPE"]] {
        let (out, _) = run(&[bad[0], bad[1], "--", "true"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains(bad[1]), "{}", stderr(&out));
    }
}
