//! `pidward run` supervises the whole tree: what the command leaves behind ends with it, a
//! stop of the supervisor leaves nothing, a failed start is stopped on the given schedule, a
//! late signal cannot kill pidward before it cleans up, and a failing system call in the loop
//! never abandons the command.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::run::*;

/// `pidward stop PATH`: its exit code.
fn stop(pidfile: &std::path::Path) -> Option<i32> {
    pidward()
        .args(["stop"])
        .arg(pidfile)
        .output()
        .unwrap()
        .status
        .code()
}

#[test]
fn stop_of_a_detached_supervisor_leaves_nothing_of_the_service() {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    // A command that is not the last process: a plain child, a setsid'd one that has left the
    // session, and a double-forked one re-parented to pidward.
    let script = "sleep 34 & setsid sleep 35 & (sleep 36 &); sleep 37; true";
    let (out, _) = run(&[
        "-d",
        "-p",
        pidfile.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        script,
        &s.tag,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sup = read_pid(&pidfile);
    s.adopt(sup);
    // Wait until all four sleeps run (they carry no tag: find them as descendants).
    assert!(
        wait_until(Duration::from_secs(5), || descendants(sup).len() >= 5),
        "{:?}",
        descendants(sup)
    );
    let tree = descendants(sup);
    for &p in &tree {
        s.adopt(p);
    }
    assert_eq!(stop(&pidfile), Some(0));
    // `stop` returned 0: nothing of the service is left.
    let left: Vec<u32> = tree.iter().copied().filter(|&p| alive(p)).collect();
    assert!(left.is_empty(), "still running after stop: {left:?}");
    assert!(!alive(sup));
    assert!(!pidfile.exists());
}

#[test]
fn orphans_end_with_the_command_unless_kill_mode_is_main() {
    let s = Scratch::new();
    // The orphans carry the tag in their command lines: perl ignores its extra argument.
    let orphan = format!("perl -e 'sleep 30' {}", s.tag);
    let started = Instant::now();
    let script = format!("({orphan} &); setsid {orphan} & exit 3");
    let (out, _) = run(&["--", "sh", "-c", &script]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        s.stray().is_empty(),
        "orphans outlived the command: {:?}",
        s.stray()
    );

    // A TERM-proof orphan gets KILL after the schedule's grace.
    let started = Instant::now();
    let script = format!("(trap '' TERM; {orphan}) & sleep 0.2; exit 4");
    let (out, _) = run(&[
        "--stop-schedule",
        "TERM/0.5/KILL/2",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert!(s.stray().is_empty(), "{:?}", s.stray());

    // --kill-mode main: only the command.
    // (Its output elsewhere: it would hold the pipes that `run` collects until it exits.)
    let script = format!("({orphan} >/dev/null 2>&1 &); exit 5");
    let (out, _) = run(&["--kill-mode", "main", "--", "sh", "-c", &script]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        wait_until(Duration::from_secs(2), || !s.stray().is_empty()),
        "the orphan should run on"
    );
}

/// Every descendant of `pid`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in children(p) {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

#[test]
fn ready_timeout_is_honoured_with_the_stop_schedule() {
    let s = Scratch::new();
    let started = Instant::now();
    let (out, _) = run(&[
        "--ready",
        "notify",
        "--ready-timeout",
        "1",
        "--stop-schedule",
        "TERM/1/KILL/2",
        "--",
        "sh",
        "-c",
        r#"trap '' TERM; "$PIDWARD" notify STATUS=warming; sleep 30; :"#,
        &s.tag,
    ]);
    let took = started.elapsed();
    let msg = stderr(&out);
    assert_eq!(out.status.code(), Some(124), "{msg}");
    // 1 s to time out, 1 s of TERM grace, then KILL: not the 10 s of a fixed grace.
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );
    assert!(msg.contains("within 1s; stopped in 1"), "{msg}");
    assert!(msg.contains("last status: warming"), "{msg}");
    assert!(s.stray().is_empty(), "{:?}", s.stray());
}

#[test]
fn a_signal_just_after_the_command_exits_does_not_kill_pidward() {
    // The command's helper sends TERM to pidward without pause, before and after the command
    // exits; pidward must still exit with the command's code and remove its PID file.
    for _ in 0..5 {
        let s = Scratch::new();
        let pidfile = s.path("run.pid");
        let script =
            r#"trap "" TERM; (while kill -TERM $PPID 2>/dev/null; do :; done) & sleep 0.2; exit 7"#;
        let (out, _) = run(&[
            "-p",
            pidfile.to_str().unwrap(),
            "--stop-schedule",
            "TERM/0.2/KILL/2",
            "--",
            "sh",
            "-c",
            script,
            &s.tag,
        ]);
        assert_eq!(
            out.status.code(),
            Some(7),
            "{:?} {}",
            out.status,
            stderr(&out)
        );
        assert!(!pidfile.exists(), "the PID file was left behind");
    }
}

#[test]
fn a_failing_poll_never_abandons_the_command() {
    if Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("skipped: needs strace");
        return;
    }
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    let mark = s.path("done");
    // Every poll(2) of pidward fails with ENOMEM; the command still runs to its end, and
    // pidward exits with its code once it has.
    let script = format!("sleep 0.5; touch {}; exit 3", mark.display());
    let started = Instant::now();
    let out = Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "-e", "trace=poll,ppoll"])
        .args(["-e", "inject=poll,ppoll:error=ENOMEM"])
        .arg(exe())
        .args([
            "run",
            "-p",
            pidfile.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            &script,
            &s.tag,
        ])
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(mark.exists(), "pidward returned before the command ended");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!pidfile.exists());
}

#[test]
fn a_killed_supervisor_takes_its_command_along() {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    let child_pidfile = s.path("child.pid");
    let start = |extra: &[&str]| {
        let mut args = vec![
            "-d",
            "-p",
            pidfile.to_str().unwrap(),
            "--child-pidfile",
            child_pidfile.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "perl", "-e", "sleep 100", &s.tag]);
        let (out, _) = run(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let (sup, cmd) = (read_pid(&pidfile), read_pid(&child_pidfile));
        s.adopt(sup);
        s.adopt(cmd);
        (sup, cmd)
    };
    let (sup, cmd) = start(&[]);
    // SAFETY: kill(2) of a process this test started.
    unsafe { libc::kill(sup as i32, libc::SIGKILL) };
    assert!(
        wait_until(Duration::from_secs(2), || !alive(cmd)),
        "the command outlived its killed supervisor"
    );
    // So a second start is the only copy of the service.
    let (sup2, second) = start(&[]);
    let mut left = s.stray();
    left.retain(|&p| p != sup2);
    assert_eq!(left, vec![second], "one copy of the service");
    assert_eq!(stop(&pidfile), Some(0));

    // With --parent-death-signal none, the command runs on (as it did before).
    let (sup, cmd) = start(&["--parent-death-signal", "none"]);
    // SAFETY: as above.
    unsafe { libc::kill(sup as i32, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(cmd));
}
