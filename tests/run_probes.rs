//! `pidward run --ready tcp:|exec:|file:`: readiness found out by pidward itself, tried every
//! `--ready-interval` inside its loop, each with a success and a timeout; and the tail of a
//! detached command's stderr quoted when its start fails.

mod support;

use std::time::{Duration, Instant};

use support::run::*;

/// A TCP port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn tcp_ready_once_a_connection_succeeds() {
    let s = Scratch::new();
    let pidfile = s.path("svc.pid");
    let port = free_port();
    let server = format!(
        "import socket, time; time.sleep(0.6); s = socket.socket(); \
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); \
         s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(30)"
    );
    let ready = format!("tcp:127.0.0.1:{port}");
    let (out, took) = run(&[
        "-d",
        "-p",
        pidfile.to_str().unwrap(),
        "--ready",
        &ready,
        "--ready-timeout",
        "10",
        "--",
        "python3",
        "-c",
        &server,
        &s.tag,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        took >= Duration::from_millis(500),
        "ready before the server listened: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    s.adopt(read_pid(&pidfile));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
}

#[test]
fn tcp_timeout_is_124_and_stops_the_command() {
    let s = Scratch::new();
    let ready = format!("tcp:127.0.0.1:{}", free_port());
    let sleeper = format!("perl -e 'sleep 30' {}", s.tag);
    let (out, took) = run(&[
        "--ready",
        &ready,
        "--ready-timeout",
        "1",
        "--",
        "sh",
        "-c",
        &sleeper,
    ]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert!(s.stray().is_empty(), "{:?}", s.stray());
}

#[test]
fn exec_check_retried_every_interval_until_it_exits_0() {
    let s = Scratch::new();
    let flag = s.path("up");
    let log = s.path("checks");
    let check = format!(
        "exec:echo x >> {}; test -e {}",
        log.display(),
        flag.display()
    );
    let script = format!(
        "sleep 0.7; touch {}; perl -e 'sleep 30' {}",
        flag.display(),
        s.tag
    );
    let pidfile = s.path("svc.pid");
    let (out, took) = run(&[
        "-d",
        "-p",
        pidfile.to_str().unwrap(),
        "--ready",
        &check,
        "--ready-interval",
        "0.1",
        "--ready-timeout",
        "10",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let sup = read_pid(&pidfile);
    s.adopt(sup);
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let checks = std::fs::read_to_string(&log).unwrap().lines().count();
    assert!((4..=20).contains(&checks), "{checks} checks in {took:?}");
    // No check is left running or unreaped under the supervisor.
    std::thread::sleep(Duration::from_millis(300));
    let kids = children(sup);
    assert_eq!(kids.len(), 1, "{kids:?}");
}

#[test]
fn exec_check_that_never_succeeds_times_out() {
    let s = Scratch::new();
    let sleeper = format!("perl -e 'sleep 30' {}", s.tag);
    let (out, took) = run(&[
        "--ready",
        "exec:false",
        "--ready-timeout",
        "1",
        "--",
        "sh",
        "-c",
        &sleeper,
    ]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(s.stray().is_empty(), "{:?}", s.stray());
}

#[test]
fn file_ready_when_it_appears_and_times_out_when_it_does_not() {
    let s = Scratch::new();
    let flag = s.path("up");
    let ready = format!("file:{}", flag.display());
    let script = format!("sleep 0.5; touch {}; sleep 30", flag.display());
    let pidfile = s.path("svc.pid");
    let started = Instant::now();
    let (out, _) = run(&[
        "-d",
        "-p",
        pidfile.to_str().unwrap(),
        "--ready",
        &ready,
        "--ready-interval",
        "0.1",
        "--",
        "sh",
        "-c",
        &script,
        &s.tag,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(flag.exists());
    assert!(started.elapsed() >= Duration::from_millis(400));
    s.adopt(read_pid(&pidfile));

    let missing = format!("file:{}", s.path("never").display());
    let (out, took) = run(&[
        "--ready",
        &missing,
        "--ready-timeout",
        "0.5",
        "--",
        "sh",
        "-c",
        "sleep 30",
        &s.tag,
    ]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[test]
fn bad_probe_values_are_usage_errors() {
    for bad in [
        "tcp:nohost-port",
        "tcp:no.such.host.invalid:80",
        "exec:",
        "file:",
        "tcp",
    ] {
        let (out, _) = run(&["--ready", bad, "--", "true"]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
    }
}

#[test]
fn a_detached_failed_start_quotes_the_commands_stderr() {
    let (out, _) = run(&[
        "-d",
        "--ready",
        "notify",
        "--",
        "sh",
        "-c",
        "echo 'bind :80: permission denied' >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(122), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(text.contains("exited with status 3"), "{text}");
    assert!(text.contains("  bind :80: permission denied"), "{text}");

    // A timeout too; only the last few KiB are kept.
    let script = "i=0; while [ $i -lt 2000 ]; do echo line $i >&2; i=$((i+1)); done; sleep 30";
    let (out, _) = run(&[
        "-d",
        "--ready",
        "notify",
        "--ready-timeout",
        "1",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(text.contains("  line 1999"), "{text}");
    assert!(!text.contains("line 10\n"), "{text}");
    assert!(text.len() < 8192, "{}", text.len());
}

#[test]
fn after_readiness_a_detached_commands_stderr_never_blocks_it() {
    let s = Scratch::new();
    let done = s.path("done");
    // A megabyte to stderr: more than any pipe holds, so it is drained.
    let script = format!(
        "head -c 1048576 /dev/zero >&2; touch {}; sleep 30",
        done.display()
    );
    let pidfile = s.path("svc.pid");
    let (out, _) = run(&[
        "-d",
        "-p",
        pidfile.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
        &s.tag,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    s.adopt(read_pid(&pidfile));
    assert!(wait_until(Duration::from_secs(10), || done.exists()));
}
