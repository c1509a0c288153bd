//! The state `pidward run -p F` keeps in `F.state` and `pidward status` shows: replaced
//! whole at each transition (never a torn read), true only while the PID file is locked,
//! removed with the PID file, kept only as the record of a supervisor that gave up.

mod support;

use std::path::Path;
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

fn status_json(pid: &Path) -> (serde_json::Value, i32) {
    let out = pidward()
        .args(["status", "--json", pid.to_str().unwrap()])
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (v, out.status.code().unwrap())
}

/// The first `status --json` (and its exit code) that shows the service `stopping`, within
/// `limit`; panics if none does.
fn stopping_seen(pid: &Path, limit: Duration) -> (serde_json::Value, i32) {
    let mut seen = None;
    let found = wait_until(limit, || {
        let (v, code) = status_json(pid);
        let stopping = v["service"]["state"] == "stopping";
        seen = Some((v, code));
        stopping
    });
    let (v, code) = seen.expect("status ran");
    assert!(found, "never stopping; last: {v}");
    (v, code)
}

#[test]
fn running_then_backoff_with_status_text_and_lsb_codes() {
    let s = Scratch::new();
    let pid = s.path("svc.pid");
    let mut pw = spawn(&[
        "-p",
        pid.to_str().unwrap(),
        "--ready",
        "notify",
        "--restart",
        "on-failure",
        "--restart-delay",
        "30",
        "--",
        "sh",
        "-c",
        "\"$PIDWARD\" notify --ready --status 'serving 3 clients'; sleep 0.8; exit 4",
        &s.tag,
    ]);
    s.adopt(pw.id());
    assert!(wait_until(Duration::from_secs(5), || {
        status_json(&pid).0["service"]["state"] == "running"
    }));
    let (v, code) = status_json(&pid);
    assert_eq!(code, 0, "{v}");
    let svc = &v["service"];
    assert_eq!(svc["policy"], "on-failure");
    assert_eq!(svc["supervisor_pid"], pw.id());
    assert_eq!(svc["status"], "serving 3 clients", "{svc}");
    assert!(
        svc["main_pid"]
            .as_u64()
            .is_some_and(|p| p != u64::from(pw.id()))
    );
    for key in ["since", "started", "ready"] {
        let t = svc[key].as_str().unwrap_or_else(|| panic!("{key}: {svc}"));
        pidward::time::parse_rfc3339(t).unwrap();
    }
    // The mechanism: a cgroup of its own as root, the subreaper otherwise.
    assert!(
        ["cgroup", "subreaper"].contains(&svc["tree"].as_str().unwrap()),
        "{svc}"
    );
    assert!(svc["last_exit"].is_null());

    // Its end: backoff, a restart planned, LSB 1 (the PID file is held, the program dead).
    assert!(wait_until(Duration::from_secs(5), || {
        status_json(&pid).0["service"]["state"] == "backoff"
    }));
    let (v, code) = status_json(&pid);
    assert_eq!(code, 1, "{v}");
    let svc = &v["service"];
    assert_eq!(svc["restarts"], 1);
    assert_eq!(svc["consecutive_failures"], 1);
    assert_eq!(svc["last_exit"]["code"], 4);
    assert_eq!(svc["last_exit"]["cause"], "code");
    assert_eq!(svc["last_exit"]["core"], false);
    let ran = svc["last_exit"]["ran_seconds"].as_f64().unwrap();
    assert!((0.7..5.0).contains(&ran), "{ran}");
    let next = svc["next_start_in_seconds"].as_f64().unwrap();
    assert!((20.0..=33.0).contains(&next), "{next}");
    assert!(svc["main_pid"].is_null());
    let text = pidward()
        .args(["status", pid.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(text.status.code(), Some(1));
    let line = String::from_utf8_lossy(&text.stdout).into_owned();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains("backoff: exited with code 4 after 0.") && line.contains("; restart 1 in "),
        "{line}"
    );
    assert!(line.contains("(1 restarts since "), "{line}");

    // Stopped during the backoff: at once, and both files are gone.
    let sent = Instant::now();
    kill(pw.id(), libc::SIGTERM);
    assert_eq!(pw.wait().unwrap().code(), Some(4));
    assert!(sent.elapsed() < Duration::from_secs(2));
    assert!(!pid.exists());
    assert!(!s.path("svc.pid.state").exists());
}

#[test]
fn a_state_left_by_a_killed_supervisor_is_not_believed() {
    let s = Scratch::new();
    let pid = s.path("svc.pid");
    let mut pw = spawn(&[
        "-p",
        pid.to_str().unwrap(),
        "--parent-death-signal",
        "KILL",
        "--",
        "sh",
        "-c",
        "sleep 30",
        &s.tag,
    ]);
    s.adopt(pw.id());
    assert!(wait_until(Duration::from_secs(5), || {
        status_json(&pid).0["service"]["state"] == "running"
    }));
    kill(pw.id(), libc::SIGKILL);
    pw.wait().unwrap();
    assert!(
        s.path("svc.pid.state").exists(),
        "the test needs a left-over file"
    );
    let (v, code) = status_json(&pid);
    assert!(v["service"].is_null(), "{v}");
    assert_ne!(code, 0);
}

/// While a service restarts as fast as it can, every read of the state file (and every
/// `status --json`) sees one whole state.
#[test]
fn the_state_file_is_never_torn_under_a_status_loop() {
    let s = Scratch::new();
    let pid = s.path("svc.pid");
    let state = s.path("svc.pid.state");
    let mut pw = spawn(&[
        "-p",
        pid.to_str().unwrap(),
        "--restart",
        "always",
        "--ready",
        "notify",
        "--restart-delay",
        "0.005",
        "--restart-jitter",
        "0",
        "--",
        "sh",
        "-c",
        "\"$PIDWARD\" notify --ready --status 'line\\with a backslash'; exit 1",
        &s.tag,
    ]);
    s.adopt(pw.id());
    assert!(wait_until(Duration::from_secs(5), || state.exists()));
    let end = Instant::now() + Duration::from_millis(1500);
    let (mut reads, mut phases) = (0, std::collections::BTreeSet::new());
    let mut saw_status = false;
    while Instant::now() < end {
        match std::fs::read_to_string(&state) {
            Ok(text) => {
                let parsed = pidward::supervise::State::decode(&text)
                    .unwrap_or_else(|| panic!("torn or bad state: {text:?}"));
                phases.insert(parsed.phase.name());
                if let Some(st) = &parsed.status {
                    assert_eq!(st, "line\\with a backslash");
                    saw_status = true;
                }
                reads += 1;
            }
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        }
        if reads % 50 == 0 {
            let (v, _) = status_json(&pid);
            let st = v["service"]["state"].as_str().unwrap_or("none").to_owned();
            assert!(
                ["starting", "running", "stopping", "backoff", "none"].contains(&st.as_str()),
                "{v}"
            );
        }
    }
    assert!(reads > 200, "{reads}");
    assert!(phases.contains("backoff"), "{phases:?}");
    assert!(saw_status, "STATUS= never reached the state");
    let (v, _) = status_json(&pid);
    assert!(v["service"]["restarts"].as_u64().unwrap() > 5, "{v}");
    assert!(v["service"]["history"].as_array().unwrap().len() <= 10);
    kill(pw.id(), libc::SIGTERM);
    // The TERM lands either in a backoff (pidward exits with the last run's 1) or while a run
    // is in flight (forwarded to it: 128 + 15); nothing else is a clean stop.
    let code = pw.wait().unwrap().code();
    assert!(matches!(code, Some(1) | Some(143)), "{code:?}");
    assert!(!state.exists() && !pid.exists());
}

#[test]
fn an_administrative_stop_shows_stopping_until_the_command_is_gone() {
    let s = Scratch::new();
    let pid = s.path("svc.pid");
    let mut pw = spawn(&[
        "-p",
        pid.to_str().unwrap(),
        "--restart",
        "always",
        "--",
        "sh",
        "-c",
        "trap 'sleep 1; exit 0' TERM; while :; do sleep 0.05; done",
        &s.tag,
    ]);
    s.adopt(pw.id());
    assert!(wait_until(Duration::from_secs(5), || {
        status_json(&pid).0["service"]["state"] == "running"
    }));
    kill(pw.id(), libc::SIGTERM);
    // The code of the same call that saw `stopping`: a second call may come after the end.
    let (v, code) = stopping_seen(&pid, Duration::from_secs(2));
    assert_eq!(code, 1, "{v}");
    assert_eq!(pw.wait().unwrap().code(), Some(0));
    assert!(!pid.exists() && !s.path("svc.pid.state").exists());
}

#[test]
fn what_is_left_after_the_command_shows_stopping_until_it_is_gone() {
    let s = Scratch::new();
    let pid = s.path("svc.pid");
    let mut pw = spawn(&[
        "-p",
        pid.to_str().unwrap(),
        "--stop-schedule",
        "TERM/3/KILL",
        "--",
        "sh",
        "-c",
        "(trap '' TERM; exec sleep 30) & sleep 0.3; exit 0",
        &s.tag,
    ]);
    s.adopt(pw.id());
    // The command exits; its child ignores TERM and is killed 3 s later: meanwhile the
    // service is stopping, and not running (LSB 1).
    let (v, code) = stopping_seen(&pid, Duration::from_secs(3));
    assert_eq!(code, 1, "{v}");
    assert_eq!(pw.wait().unwrap().code(), Some(0));
    assert!(!pid.exists() && !s.path("svc.pid.state").exists());
}

#[test]
fn a_fifo_in_place_of_the_state_file_does_not_hold_up_status() {
    let s = Scratch::new();
    let pid = s.path("svc.pid");
    let mut pw = spawn(&[
        "-p",
        pid.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "exec sleep 30",
        &s.tag,
    ]);
    s.adopt(pw.id());
    let state = s.path("svc.pid.state");
    assert!(wait_until(Duration::from_secs(5), || state.exists()));
    std::fs::remove_file(&state).unwrap();
    let c = std::ffi::CString::new(state.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) of a C string we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    // A reader that opened the FIFO to read would wait for a writer for ever.
    let mut status = pidward()
        .args(["status", pid.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let done = wait_until(Duration::from_secs(5), || {
        status.try_wait().unwrap().is_some()
    });
    if !done {
        let _ = status.kill();
    }
    let out = status.wait_with_output().unwrap();
    assert!(done, "status waited on the FIFO");
    assert_eq!(out.status.code(), Some(0));
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(line.contains("running as PID"), "{line}");
    kill(pw.id(), libc::SIGTERM);
    pw.wait().unwrap();
}
