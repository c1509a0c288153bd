//! `pidward run --ready`: the launcher returns when the command declares readiness, fails at
//! once when it dies first, gives up after the timeout, and relays readiness upward.

mod support;

use std::time::Duration;

use pidward::notify::{Accept, Listener};
use support::run::*;

#[test]
fn the_launcher_returns_when_the_command_is_ready() {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    let child = s.path("child.pid");
    let (out, took) = run(&[
        "--daemon",
        "--ready",
        "notify",
        "-p",
        pidfile.to_str().unwrap(),
        "--child-pidfile",
        child.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        r#"sleep 0.5; "$PIDWARD" notify --ready; sleep 30; :"#,
        &s.tag,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        took >= Duration::from_millis(500),
        "returned before READY=1: {took:?}"
    );
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    let sup = read_pid(&pidfile);
    let cmd = read_pid(&child);
    s.adopt(sup);
    s.adopt(cmd);
    assert!(alive(cmd));
    assert_eq!(stat(cmd).unwrap().ppid, sup);
}

#[test]
fn death_before_readiness_fails_at_once_with_its_status() {
    let s = Scratch::new();
    let log = s.path("out.log");
    let pidfile = s.path("run.pid");
    let (out, took) = run(&[
        "--daemon",
        "--ready",
        "notify",
        "-p",
        pidfile.to_str().unwrap(),
        "-o",
        log.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo 'cannot open config' >&2; sleep 0.2; exit 7",
    ]);
    let msg = stderr(&out);
    // Detached, one code says "died before it was ready"; its own status is in the message.
    assert_eq!(out.status.code(), Some(122), "{msg}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(
        msg.contains("sh exited with status 7 before it reported"),
        "{msg}"
    );
    // The tail of the captured stderr comes with it.
    assert!(
        msg.contains(&format!("last lines of {}", log.display())),
        "{msg}"
    );
    assert!(msg.contains("  cannot open config"), "{msg}");
    assert!(wait_until(Duration::from_secs(1), || !pidfile.exists()));

    // Killed by a signal: 128+N.
    let (out, _) = run(&["-d", "--ready", "notify", "--", "sh", "-c", "kill -USR1 $$"]);
    assert_eq!(out.status.code(), Some(122), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("killed by signal USR1"),
        "{}",
        stderr(&out)
    );

    // Exiting 0 without declaring readiness is still a failed start, not a set-up failure.
    let (out, _) = run(&["-d", "--ready", "notify", "--", "true"]);
    assert_eq!(out.status.code(), Some(122), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("true exited with status 0"),
        "{}",
        stderr(&out)
    );

    // In the foreground the command's own status passes through, as the shells do; only 0
    // (which would read as success) becomes 122.
    let (out, _) = run(&["--ready", "notify", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let (out, _) = run(&["--ready", "notify", "--", "sh", "-c", "kill -USR1 $$"]);
    assert_eq!(out.status.code(), Some(128 + 10), "{}", stderr(&out));
    let (out, _) = run(&["--ready", "notify", "--", "true"]);
    assert_eq!(out.status.code(), Some(122), "{}", stderr(&out));
}

#[test]
fn no_readiness_before_the_timeout_is_124_and_stops_the_command() {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    let (out, took) = run(&[
        "--daemon",
        "--ready",
        "notify",
        "--ready-timeout",
        "0.5",
        "-p",
        pidfile.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "sleep 30; :",
        &s.tag,
    ]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("readiness not declared in time"),
        "{}",
        stderr(&out)
    );
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(
        wait_until(Duration::from_secs(2), || s.stray().is_empty()),
        "{:?}",
        s.stray()
    );
    assert!(wait_until(Duration::from_secs(1), || !pidfile.exists()));

    // In the foreground too.
    let (out, _) = run(&[
        "--ready",
        "notify",
        "--ready-timeout",
        "0.2",
        "--",
        "sleep",
        "30",
    ]);
    assert_eq!(out.status.code(), Some(124));
}

#[test]
fn extend_timeout_usec_moves_the_deadline() {
    let (out, took) = run(&[
        "-d",
        "--ready",
        "notify",
        "--ready-timeout",
        "0.4",
        "--",
        "sh",
        "-c",
        r#""$PIDWARD" notify EXTEND_TIMEOUT_USEC=3000000; sleep 1; "$PIDWARD" notify --ready; exit 0"#,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(took >= Duration::from_secs(1), "{took:?}");
}

#[test]
fn errno_fails_the_start_naming_the_error() {
    let s = Scratch::new();
    let (out, took) = run(&[
        "-d",
        "--ready",
        "notify",
        "--",
        "sh",
        "-c",
        r#""$PIDWARD" notify ERRNO=98 STATUS=binding; sleep 30; :"#,
        &s.tag,
    ]);
    let msg = stderr(&out);
    assert_eq!(out.status.code(), Some(123), "{msg}");
    assert!(
        msg.contains("sh reported a failure: Address already in use"),
        "{msg}"
    );
    assert!(msg.contains("last status: binding"), "{msg}");
    assert!(!msg.contains("ready ("), "reads like success: {msg}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(
        wait_until(Duration::from_secs(2), || s.stray().is_empty()),
        "{:?}",
        s.stray()
    );
}

#[test]
fn notify_fd_readiness() {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    let (out, took) = run(&[
        "-d",
        "--ready",
        "fd:5",
        "-p",
        pidfile.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        r#"test "$NOTIFY_FD" = 5 || exit 3; sleep 0.3; echo >&5; exec 5>&-; sleep 30; :"#,
        &s.tag,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(took >= Duration::from_millis(300), "{took:?}");
    s.adopt(read_pid(&pidfile));

    // `pidward notify --ready` finds the descriptor through NOTIFY_FD.
    let s2 = Scratch::new();
    let (out, _) = run(&[
        "-d",
        "--ready",
        "fd:4",
        "--",
        "sh",
        "-c",
        r#""$PIDWARD" notify --ready; sleep 30; :"#,
        &s2.tag,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Closing the descriptor without a newline is a failed start.
    let (out, took) = run(&["--ready", "fd:5", "--", "sh", "-c", "exec 5>&-; sleep 30"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("closed descriptor 5"),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(2));
}

#[test]
fn readiness_is_relayed_to_an_outer_notify_socket() {
    let mut outer = Listener::bind_private().unwrap();
    outer.set_accept(Accept::Any);
    let address = outer.address().to_str().unwrap().to_owned();
    let s = Scratch::new();
    let seen = s.path("seen");
    let mut pw = pidward()
        .args(["run", "--ready", "notify", "--"])
        .args([
            "sh",
            "-c",
            r#"echo "$NOTIFY_SOCKET" > "$1"; "$PIDWARD" notify --ready --status=serving; sleep 0.5"#,
            "sh",
            seen.to_str().unwrap(),
        ])
        .env("PIDWARD", exe())
        .env("NOTIFY_SOCKET", &address)
        .spawn()
        .unwrap();
    let mut got = None;
    wait_until(Duration::from_secs(5), || {
        got = outer.recv().unwrap();
        got.is_some()
    });
    let n = got.expect("nothing relayed");
    assert!(n.ready);
    assert_eq!(n.get("MAINPID"), Some(pw.id().to_string().as_str()));
    assert_eq!(n.status.as_deref(), Some("serving"));
    assert_eq!(n.sender, pw.id(), "relayed by pidward itself");
    // The command talked to pidward's own socket, never to the outer one.
    let inner = std::fs::read_to_string(&seen).unwrap();
    assert!(inner.trim().starts_with('@'), "{inner}");
    assert_ne!(inner.trim(), address);
    assert!(pw.wait().unwrap().success());
}

#[test]
fn detached_readiness_is_relayed_with_the_supervisor_as_main_pid() {
    let mut outer = Listener::bind_private().unwrap();
    outer.set_accept(Accept::Any);
    let address = outer.address().to_str().unwrap().to_owned();
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    let (out, _) = run_with(
        &[
            "-d",
            "--ready",
            "notify",
            "-p",
            pidfile.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            r#""$PIDWARD" notify --ready; sleep 30; :"#,
            &s.tag,
        ],
        &[("NOTIFY_SOCKET", &address)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let sup = read_pid(&pidfile);
    s.adopt(sup);
    let mut got = None;
    wait_until(Duration::from_secs(5), || {
        got = outer.recv().unwrap();
        got.is_some()
    });
    let n = got.expect("nothing relayed");
    assert!(n.ready);
    assert_eq!(n.get("MAINPID"), Some(sup.to_string().as_str()));
}

#[test]
fn strangers_cannot_declare_readiness() {
    let s = Scratch::new();
    let socket_file = s.path("socket");
    let mut pw = pidward()
        .args(["run", "--ready", "notify", "--ready-timeout", "1.5", "--"])
        .args([
            "sh",
            "-c",
            r#"echo "$NOTIFY_SOCKET" > "$1"; sleep 30; :"#,
            &s.tag,
            socket_file.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    s.adopt(pw.id());
    let mut address = String::new();
    assert!(wait_until(Duration::from_secs(5), || {
        address = std::fs::read_to_string(&socket_file).unwrap_or_default();
        address.ends_with('\n')
    }));
    // This test process is not in pidward's tree: its READY=1 must be ignored.
    let stranger = pidward::notify::Notifier::new(address.trim()).unwrap();
    stranger.send("READY=1").unwrap();
    let status = pw.wait().unwrap();
    assert_eq!(status.code(), Some(124));
}
