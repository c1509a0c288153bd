//! `pidward notify`, black-box, against a listener in this process.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::assert::OutputAssertExt;
use assert_cmd::cargo::CommandCargoExt;
use pidward::notify::{Accept, Listener};
use predicates::prelude::*;
use support::notify::recv_within;

const WITHIN: Duration = Duration::from_secs(5);

/// `pidward notify ARGS` with the given NOTIFY_SOCKET (or none) and no NOTIFY_FD.
fn pidward_notify(socket: Option<&Listener>, args: &[&str]) -> Command {
    let mut command = Command::cargo_bin("pidward").unwrap();
    command
        .arg("notify")
        .args(args)
        .env_remove("NOTIFY_FD")
        .stdin(Stdio::null());
    match socket {
        Some(listener) => command.env("NOTIFY_SOCKET", listener.address()),
        None => command.env_remove("NOTIFY_SOCKET"),
    };
    command
}

#[test]
fn the_fields_arrive_in_one_message_and_the_barrier_is_answered() {
    let listener = Listener::bind_private().unwrap();
    let child = pidward_notify(
        Some(&listener),
        &[
            "--ready",
            "--status=hello world",
            "--pid",
            "FOO=bar",
            "X_2=a=b",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let n = recv_within(&listener, WITHIN).expect("a message");
    assert!(n.ready);
    assert_eq!(n.status.as_deref(), Some("hello world"));
    // `--pid` names the parent of `pidward notify`: this test process.
    assert_eq!(n.main_pid, Some(std::process::id()));
    assert_eq!(n.sender, child.id());
    let fields: Vec<(&str, &str)> = n
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let pid = std::process::id().to_string();
    assert_eq!(
        fields,
        [
            ("READY", "1"),
            ("STATUS", "hello world"),
            ("MAINPID", pid.as_str()),
            ("FOO", "bar"),
            ("X_2", "a=b")
        ]
    );
    // The client waits until its barrier is read; reading on lets it finish with 0.
    let deadline = Instant::now() + WITHIN;
    while Instant::now() < deadline {
        assert_eq!(listener.recv().unwrap(), None);
        std::thread::sleep(Duration::from_millis(20));
        if std::fs::metadata(format!("/proc/{}/stat", child.id()))
            .map(|_| is_zombie(child.id()))
            .unwrap_or(true)
        {
            break;
        }
    }
    child.wait_with_output().unwrap().assert().success();
}

fn is_zombie(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('Z'))
}

#[test]
fn no_block_does_not_wait_for_the_listener() {
    let mut listener = Listener::bind_private().unwrap();
    let started = Instant::now();
    pidward_notify(Some(&listener), &["--no-block", "--stopping", "--pid=4242"])
        .assert()
        .success();
    assert!(started.elapsed() < Duration::from_secs(3));
    // The client has exited and been reaped: it can no longer be placed in this process's
    // tree, so the default policy refuses its message (what the barrier exists to avoid).
    assert_eq!(listener.recv().unwrap(), None);
    assert_eq!(listener.ignored(), 1);

    listener.set_accept(Accept::Any);
    pidward_notify(Some(&listener), &["--no-block", "--stopping", "--pid=4242"])
        .assert()
        .success();
    let n = listener.recv().unwrap().expect("queued");
    assert!(n.stopping && !n.ready);
    assert_eq!(n.main_pid, Some(4242));
}

#[test]
fn reloading_carries_a_monotonic_timestamp() {
    let mut listener = Listener::bind_private().unwrap();
    listener.set_accept(Accept::Any);
    let before = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    pidward_notify(Some(&listener), &["--no-block", "--reloading"])
        .assert()
        .success();
    let n = listener.recv().unwrap().expect("queued");
    assert!(n.reloading);
    let usec: u64 = n.get("MONOTONIC_USEC").unwrap().parse().unwrap();
    let before_usec = before.tv_sec as u64 * 1_000_000 + before.tv_nsec as u64 / 1000;
    assert!(usec >= before_usec && usec < before_usec + 10_000_000);
}

#[test]
fn without_a_listener_the_barrier_gives_up_and_fails() {
    let mut listener = Listener::bind_private().unwrap();
    listener.set_accept(Accept::Any);
    let started = Instant::now();
    pidward_notify(Some(&listener), &["--ready"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("the message was sent, but"))
        .stderr(predicate::str::contains("did not confirm"))
        .stderr(predicate::str::contains("--no-block"));
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_secs(4) && elapsed < Duration::from_secs(15));
    assert!(
        listener.recv().unwrap().unwrap().ready,
        "the message itself arrived"
    );
}

#[test]
fn unset_notify_socket_fails_with_a_clear_message() {
    pidward_notify(None, &["--ready"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("NOTIFY_SOCKET is not set"));
    let mut with_empty = pidward_notify(None, &["--status=x"]);
    with_empty.env("NOTIFY_SOCKET", "");
    with_empty
        .assert()
        .code(1)
        .stderr(predicate::str::contains("NOTIFY_SOCKET is not set"));
}

#[test]
fn an_unreachable_or_malformed_socket_fails_naming_it() {
    let nobody = format!("@pidward-test/{}/nobody", std::process::id());
    let mut command = pidward_notify(None, &["--ready"]);
    command.env("NOTIFY_SOCKET", &nobody);
    command
        .assert()
        .code(1)
        .stderr(predicate::str::contains(nobody.as_str()))
        .stderr(predicate::str::contains("Connection refused"));

    let mut command = pidward_notify(None, &["--ready"]);
    command.env("NOTIFY_SOCKET", "relative/notify.sock");
    command
        .assert()
        .code(1)
        .stderr(predicate::str::contains("relative/notify.sock"))
        .stderr(predicate::str::contains("absolute path"));
}

#[test]
fn usage_errors_exit_2_and_send_nothing() {
    let listener = Listener::bind_private().unwrap();
    for (args, says) in [
        (&[][..], "nothing to send"),
        (&["FOO"][..], "is not VAR=VALUE"),
        (&["BAD KEY=1"][..], "letters, digits and _"),
        (&["=1"][..], "letters, digits and _"),
        (&["--status=two\nlines"][..], "must be one line"),
        (&["X=two\nlines"][..], "must be one line"),
        (&["--pid=0"][..], "is not a PID"),
        (&["--pid=abc"][..], "is not a PID"),
        (&["--bogus"][..], "--bogus"),
    ] {
        pidward_notify(Some(&listener), args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
    assert_eq!(listener.recv().unwrap(), None);
    assert_eq!(listener.ignored(), 0);
}

#[test]
fn only_notify_fd_carries_readiness_alone() {
    let (read, write) = rustix::pipe::pipe().unwrap();
    let n = std::os::fd::AsRawFd::as_raw_fd(&write);
    // rustix::pipe::pipe() without flags: the write end is inherited by the child.
    let mut command = pidward_notify(None, &["--ready", "--status=ignored here"]);
    command.env("NOTIFY_FD", n.to_string());
    command.assert().success().stderr(predicate::str::contains(
        "only readiness was sent, over NOTIFY_FD",
    ));
    drop(write);
    let mut buf = [0u8; 8];
    let got = rustix::io::read(&read, &mut buf).unwrap();
    assert_eq!(&buf[..got], b"\n");

    let mut command = pidward_notify(None, &["--ready"]);
    command.env("NOTIFY_FD", "abc");
    command
        .assert()
        .code(1)
        .stderr(predicate::str::contains("NOTIFY_FD=\"abc\""));
    let mut command = pidward_notify(None, &["--ready"]);
    command.env("NOTIFY_FD", "987");
    command
        .assert()
        .code(1)
        .stderr(predicate::str::contains("NOTIFY_FD=987"))
        .stderr(predicate::str::contains("Bad file descriptor"));
    // Without --ready, NOTIFY_FD cannot carry the message.
    let mut command = pidward_notify(None, &["--status=x"]);
    command.env("NOTIFY_FD", "987");
    command
        .assert()
        .code(1)
        .stderr(predicate::str::contains("NOTIFY_SOCKET is not set"));
}
