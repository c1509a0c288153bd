//! The lifecycle log of `pidward run` (`-l/--log`): every event, each format, a log file,
//! bad destinations, and a blocked standard error that costs lines, never the supervision.

mod support;

use support::log::{assert_usage_errors, events, find, hostile_paths, is_rfc3339_ms, pidward, run};

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn every_event_of_a_life_with_a_restart_and_a_stop() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("life.log");
    let marker = dir.path().join("second");
    // First run: two STATUS= messages (one before readiness), a signal sent to pidward (passed
    // back to the command, which ignores it), then a failure. Second run: asks pidward to stop.
    let script = format!(
        "trap '' USR1
         if [ -e {m} ]; then \"$PIDWARD\" notify --ready; kill -TERM $PPID; sleep 5; exit 0; fi
         touch {m}
         \"$PIDWARD\" notify --status warming
         \"$PIDWARD\" notify --ready --status up
         kill -USR1 $PPID; sleep 0.3; exit 3",
        m = marker.display()
    );
    let out = run(&[
        "-l",
        log.to_str().unwrap(),
        "--log-level",
        "debug",
        "-T",
        "app",
        "--ready",
        "notify",
        "--restart",
        "on-failure",
        "--restart-delay",
        "0.1",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out.status.code(), Some(143), "{out:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    let ev = events(&text);
    for e in &ev {
        assert!(is_rfc3339_ms(&e["ts"]), "{e:?}");
        assert_eq!(e["tag"], "app", "{e:?}");
    }
    let names: Vec<&str> = ev.iter().map(|e| e["event"].as_str()).collect();
    let expected = [
        "start",
        "spawned",
        "status",
        "ready",
        "signal",
        "exited",
        "restart-scheduled",
        "spawned",
        "stop-requested",
        "exited",
        "exit",
    ];
    // "signal" lines for SIGCHLD-free forwarding only: each expected event in this order.
    let mut it = names.iter();
    for want in expected {
        assert!(
            it.any(|n| *n == want),
            "{want} missing or out of order in {names:?}\n{text}"
        );
    }
    assert_eq!(find(&ev, "start")[0]["policy"], "on-failure");
    let spawned = find(&ev, "spawned");
    assert_eq!(spawned[0]["restart"], "0");
    assert_eq!(spawned[1]["restart"], "1");
    let status = find(&ev, "status");
    assert_eq!(status[0]["status"], "warming", "{text}");
    let ready = find(&ev, "ready")[0];
    assert_eq!(ready["status"], "up");
    assert!(ready["after"].ends_with('s'));
    let signal = find(&ev, "signal")
        .into_iter()
        .find(|e| e["signal"] == "USR1")
        .expect("USR1 logged at debug");
    assert_eq!(signal["forwarded"], "true");
    assert_eq!(signal["sender"], spawned[0]["pid"], "{text}");
    assert_eq!(signal["level"], "debug");
    let exited = find(&ev, "exited");
    assert_eq!(exited[0]["code"], "3");
    assert_eq!(exited[0]["clean"], "false");
    assert_eq!(exited[0]["level"], "warning");
    assert_eq!(exited[0]["restarts"], "1");
    assert!(exited[0]["restart_in"].ends_with('s'));
    assert!(exited[0]["ran"].ends_with('s'));
    let scheduled = find(&ev, "restart-scheduled")[0];
    assert_eq!(scheduled["failures"], "1");
    assert_eq!(scheduled["restarts"], "1");
    let stop = find(&ev, "stop-requested")[0];
    assert_eq!(stop["signal"], "TERM");
    // The PID that asked: the second run's shell, which is no peer of pidward's.
    assert_eq!(stop["sender"], spawned[1]["pid"], "{text}");
    assert_eq!(stop["sender_name"], "sh");
    assert_eq!(exited[1]["signal"], "TERM");
    assert_eq!(exited[1]["core"], "false");
    assert_eq!(
        exited[1]["clean"], "true",
        "a stop's own signal is a clean end"
    );
    assert_eq!(exited[1]["level"], "info");
    let exit = find(&ev, "exit")[0];
    assert_eq!(exit["code"], "143");
}

#[test]
fn a_long_run_starts_the_backoff_over() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("life.log");
    let count = dir.path().join("count");
    // Runs: fail at once, fail after a long run (backoff-reset), then stop.
    let script = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); echo $((n+1)) > {c}
         case $n in 0) exit 1;; 1) sleep 0.5; exit 1;; *) kill -TERM $PPID; sleep 5;; esac",
        c = count.display()
    );
    let out = run(&[
        "-l",
        log.to_str().unwrap(),
        "--restart",
        "always",
        "--restart-delay",
        "0.05",
        "--restart-jitter",
        "0",
        "--restart-reset",
        "0.3",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out.status.code(), Some(143), "{out:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    let ev = events(&text);
    let reset = find(&ev, "backoff-reset");
    assert_eq!(reset.len(), 1, "{text}");
    let scheduled = find(&ev, "restart-scheduled");
    assert_eq!(scheduled.len(), 2, "{text}");
    assert_eq!(scheduled[0]["in"], "0.05s");
    // After the reset the delay is the first one again, and the failures start over.
    assert_eq!(scheduled[1]["in"], "0.05s", "{text}");
    assert_eq!(scheduled[1]["failures"], "1", "{text}");
}

#[test]
fn json_and_text_formats() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("life.json");
    let out = run(&[
        "-l",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "--",
        "sh",
        "-c",
        "exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 5, "{text}");
    for l in &lines {
        assert!(is_rfc3339_ms(l["ts"].as_str().unwrap()), "{l}");
        assert_eq!(l["tag"], "sh");
    }
    let exited = lines.iter().find(|l| l["event"] == "exited").unwrap();
    assert_eq!(exited["code"], 4);
    assert_eq!(exited["clean"], false);
    assert_eq!(exited["level"], "warning");
    assert!(exited["ran"].as_f64().unwrap() >= 0.0);

    // Text: time, tag, level, event, fields; and logfmt is the default off a terminal.
    let out = run(&["--log-format", "text", "-T", "web", "--", "true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let spawned = err.lines().find(|l| l.contains(" spawned ")).unwrap();
    let parts: Vec<&str> = spawned.splitn(5, ' ').collect();
    assert!(is_rfc3339_ms(parts[0]), "{spawned}");
    assert_eq!(&parts[1..4], ["web", "info", "spawned"], "{spawned}");
    assert!(parts[4].starts_with("pid=") && parts[4].ends_with(" restart=0"));
    let out = run(&["--", "true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.lines().all(|l| l.starts_with("ts=")), "{err}");
    assert!(err.contains(" event=exit tag=true code=0\n"), "{err}");

    // On a terminal (script(1) gives it one) the default is text, for every line.
    let out = Command::new("script")
        .args(["-qec", &format!("{} run -- true", pidward()), "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = tty.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert_eq!(lines.len(), 5, "{tty}");
    for line in &lines {
        let parts: Vec<&str> = line.splitn(4, ' ').collect();
        assert!(is_rfc3339_ms(parts[0]), "{tty}");
        assert_eq!(&parts[1..3], ["true", "info"], "{tty}");
    }
    assert!(lines[4].ends_with(" exit code=0"), "{tty}");
}

#[test]
fn levels_filter_and_none_is_silent() {
    let out = run(&["--log-level", "warning", "--", "sh", "-c", "exit 2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let ev = events(&err);
    let names: Vec<&str> = ev.iter().map(|e| e["event"].as_str()).collect();
    assert_eq!(names, ["exited", "exit"], "{err}");
    let out = run(&["-l", "none", "--", "sh", "-c", "exit 2"]);
    assert!(out.stderr.is_empty());
    let out = run(&["--log-level", "error", "-C", "/nonexistent", "--", "true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125));
    let exit = events(&err)
        .into_iter()
        .find(|e| e.get("event").is_some_and(|n| n == "exit"))
        .unwrap();
    assert_eq!(exit["level"], "error");
    assert!(exit["error"].contains("/nonexistent"), "{err}");
}

#[test]
fn a_log_file_is_appended_with_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("new.log");
    let out = run(&["-l", log.to_str().unwrap(), "--", "true"]);
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "a file replaces the default stderr");
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    let log2 = dir.path().join("mode.log");
    run(&[
        "-l",
        log2.to_str().unwrap(),
        "--log-mode",
        "600",
        "--",
        "true",
    ]);
    assert_eq!(
        std::fs::metadata(&log2).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    std::fs::write(&log2, "kept\n").unwrap();
    // Two destinations at once.
    let out = run(&["-l", log2.to_str().unwrap(), "-l", "stderr", "--", "true"]);
    let text = std::fs::read_to_string(&log2).unwrap();
    assert!(text.starts_with("kept\nts="), "{text}");
    assert_eq!(
        text.lines().count() - 1,
        String::from_utf8_lossy(&out.stderr).lines().count()
    );
}

#[test]
fn bad_values_are_usage_errors_naming_them() {
    assert_usage_errors(&[
        (&["-l", "syslog:nosuch.level"][..], "syslog:nosuch.level"),
        (&["-l", "syslog:daemon.loud"][..], "loud"),
        (&["-l", "syslog@"][..], "syslog@"),
        (&["--log-format", "xml"][..], "xml"),
        (&["--log-level", "loud"][..], "loud"),
        (&["--log-mode", "9"][..], "9"),
    ]);
}

#[test]
fn bad_log_paths_fail_before_the_command_runs() {
    let dir = hostile_paths();
    let d = dir.path();
    let ran = d.join("ran");
    let pidfile = d.join("app.pid");
    let good = d.join("good.log");
    let touch = format!("touch {}", ran.display());
    for (bad, why) in [
        (d.join("missing/x.log"), "No such file or directory"),
        (d.join("a-dir"), "directory"),
        (d.join("fifo"), "FIFO"),
        (d.join("link"), "symbolic link"),
    ] {
        let out = run(&[
            "-p",
            pidfile.to_str().unwrap(),
            "-l",
            good.to_str().unwrap(),
            "-l",
            bad.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            &touch,
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{}: {err}", bad.display());
        assert!(err.contains(bad.to_str().unwrap()), "{err}");
        assert!(err.contains(why), "{why:?} not in {err}");
        assert!(!ran.exists(), "the command ran");
        assert!(!pidfile.exists(), "a PID file was created");
        assert!(!good.exists(), "the other log file was left behind");
    }
    assert_eq!(
        std::fs::read_to_string(d.join("target")).unwrap(),
        "untouched\n"
    );
    assert!(!d.join("missing").exists());
}

#[test]
fn a_log_not_writable_by_an_unprivileged_pidward_is_exit_125() {
    if !nix::unistd::geteuid().is_root() {
        return; // needs a user to drop to
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.path().join("root-only.log");
    std::fs::write(&log, "").unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            pidward(),
            "run",
            "-l",
        ])
        .arg(&log)
        .args(["--", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains(log.to_str().unwrap()) && err.contains("Permission denied"),
        "{err}"
    );
    assert_eq!(std::fs::read(&log).unwrap(), b"");
}

/// Sets or clears `O_NONBLOCK` on a descriptor's open file description.
fn nonblocking(fd: &OwnedFd, on: bool) {
    // SAFETY: fcntl(2) on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags);
    }
}

/// Fills a pipe until a write would block; the description is left blocking, as pidward
/// inherits it.
fn fill(fd: &OwnedFd) -> usize {
    nonblocking(fd, true);
    let mut f = std::fs::File::from(fd.try_clone().unwrap());
    let chunk = [b'x'; 4096];
    let mut n = 0;
    while let Ok(k) = f.write(&chunk) {
        n += k;
    }
    nonblocking(fd, false);
    n
}

#[test]
fn a_blocked_stderr_drops_lines_and_signals_still_pass() {
    let dir = tempfile::tempdir().unwrap();
    let got = dir.path().join("got");
    let (read, write) = nix::unistd::pipe().unwrap();
    let filled = fill(&write);
    assert!(filled >= 4096);
    let script = format!(
        "trap 'echo usr1 >> {g}' USR1; trap 'exit 0' TERM; while :; do sleep 0.05; done",
        g = got.display()
    );
    let mut child = Command::new(pidward())
        .args(["run", "--log-level", "debug", "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(write))
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR1).unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&got).map_or(0, |s| s.lines().count()) < 3 {
        assert!(
            Instant::now() < deadline,
            "USR1 not forwarded while stderr is full"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.try_wait().unwrap().is_none(), "pidward ended");
    // Drain the pipe, then end the service: the next lines get through and count the drops.
    let mut reader = std::fs::File::from(read);
    let mut junk = vec![0u8; filled];
    reader.read_exact(&mut junk).unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    let ev = events(&rest);
    let first = ev
        .first()
        .unwrap_or_else(|| panic!("nothing after the drain: {rest:?}"));
    // start, spawned, ready, and the three USR1 lines were dropped; the first line through
    // says so.
    let dropped: u32 = first["dropped"].parse().unwrap();
    assert!(dropped >= 6, "{rest}");
    assert!(!find(&ev, "exit").is_empty(), "{rest}");
}

#[test]
fn a_missed_watchdog_and_a_restart_limit_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("life.log");
    // Ready, then silent: the watchdog fires; the second failure reaches the limit.
    let out = run(&[
        "-l",
        log.to_str().unwrap(),
        "--ready",
        "notify",
        "--watchdog",
        "0.2",
        "--restart",
        "on-failure",
        "--restart-delay",
        "0.05",
        "--restart-limit",
        "2",
        "--",
        "sh",
        "-c",
        "\"$PIDWARD\" notify --ready; sleep 5",
    ]);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_ne!(out.status.code(), Some(0), "{text}");
    let ev = events(&text);
    let fired = find(&ev, "watchdog-timeout");
    assert!(!fired.is_empty(), "{text}");
    assert_eq!(fired[0]["level"], "error");
    let exited = find(&ev, "exited");
    assert_eq!(exited[0]["cause"], "watchdog", "{text}");
    assert_eq!(exited[0]["clean"], "false");
    let gave_up = find(&ev, "gave-up");
    assert_eq!(gave_up.len(), 1, "{text}");
    assert_eq!(gave_up[0]["level"], "error");
    let names: Vec<&str> = ev.iter().map(|e| e["event"].as_str()).collect();
    assert_eq!(names[names.len() - 2..], ["gave-up", "exit"], "{text}");
}

/// The `start` event names the restart policy as `--restart` spells it, every one of them.
#[test]
fn the_start_event_names_the_policy_as_restart_spells_it() {
    for policy in [
        "no",
        "on-failure",
        "on-abnormal",
        "on-abort",
        "on-watchdog",
        "on-success",
        "always",
    ] {
        let out = run(&[
            "--restart",
            policy,
            "--restart-limit",
            "1",
            "--",
            "sh",
            "-c",
            "exit 7",
        ]);
        let text = String::from_utf8_lossy(&out.stderr);
        let ev = events(
            text.lines()
                .filter(|l| l.starts_with("ts="))
                .collect::<Vec<_>>()
                .join("\n")
                .as_str(),
        );
        let start = find(&ev, "start");
        assert_eq!(start.len(), 1, "{policy}: {text}");
        assert_eq!(start[0]["policy"], policy, "{text}");
    }
}
