//! The client functions (`ready()`, `status()`, …) in a process of their own: this test binary
//! runs itself again with a chosen environment, and the child half asserts what the
//! functions return while the parent half checks what a listener received.

use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pidward::notify;
use pidward::notify::Listener;

/// Selects the child half of `client_functions` and what it does.
const ROLE: &str = "PIDWARD_TEST_NOTIFY_CLIENT_ROLE";

fn child_half(role: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "client_functions",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("NOTIFY_FD")
        .stdin(Stdio::null());
    command
}

#[test]
fn client_functions() {
    match std::env::var(ROLE).as_deref() {
        Err(_) => parent(),
        Ok("unset") => without_a_supervisor(),
        Ok("supervised") => supervised(),
        Ok(other) => panic!("unknown role {other:?}"),
    }
}

/// The parent half: runs both roles and checks what they sent.
fn parent() {
    let status = child_half("unset").status().unwrap();
    assert!(status.success(), "the unsupervised half failed: {status}");

    let listener = Listener::bind_private().unwrap();
    let (read, write) = rustix::pipe::pipe().unwrap(); // inherited by the child
    let mut child = child_half("supervised")
        .env("NOTIFY_SOCKET", listener.address())
        .env("NOTIFY_FD", write.as_raw_fd().to_string())
        .spawn()
        .unwrap();
    drop(write);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        while let Some(n) = listener.recv().unwrap() {
            got.push(n);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the supervised half hangs");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "the supervised half failed: {status}");
    assert!(got.iter().all(|n| n.sender == child.id()));
    let summary: Vec<String> = got
        .iter()
        .map(|n| {
            n.fields
                .iter()
                .filter(|(k, _)| k != "MONOTONIC_USEC")
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        summary,
        [
            "STATUS=starting",
            "EXTEND_TIMEOUT_USEC=2500000",
            "ERRNO=0",
            "X_CUSTOM=1 X_OTHER=2",
            "READY=1",
            "RELOADING=1",
            "STOPPING=1",
        ]
    );
    assert!(got[5].get("MONOTONIC_USEC").is_some());
    assert_eq!(got[1].extend_timeout, Some(Duration::from_millis(2500)));
    // ready() wrote the notify-fd newline too, exactly once.
    let mut buf = [0u8; 8];
    let n = rustix::io::read(&read, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"\n");
    assert_eq!(
        rustix::io::read(&read, &mut buf).unwrap(),
        0,
        "closed after"
    );
}

/// Child half, without NOTIFY_SOCKET or NOTIFY_FD: everything is a no-op that says so.
fn without_a_supervisor() {
    assert!(!notify::ready().unwrap());
    assert!(!notify::status("x").unwrap());
    assert!(!notify::stopping().unwrap());
    assert!(!notify::reloading().unwrap());
    assert!(!notify::extend_timeout(Duration::from_secs(1)).unwrap());
    assert!(!notify::errno(5).unwrap());
    assert!(!notify::notify("X=1").unwrap());
    assert!(!notify::notify_fd().unwrap());
    assert!(!notify::barrier(Duration::from_secs(1)).unwrap());
    assert!(notify::Notifier::from_env().unwrap().is_none());
    // Bad arguments are errors even then.
    assert!(notify::status("two\nlines").is_err());
    assert!(notify::errno(-1).is_err());
}

/// Child half, with NOTIFY_SOCKET and NOTIFY_FD from the parent.
fn supervised() {
    let fd: i32 = std::env::var("NOTIFY_FD").unwrap().parse().unwrap();
    assert!(notify::status("starting").unwrap());
    assert!(notify::extend_timeout(Duration::from_millis(2500)).unwrap());
    assert!(notify::errno(0).unwrap());
    assert!(notify::notify("X_CUSTOM=1\nX_OTHER=2").unwrap());
    assert!(notify::ready().unwrap());
    // The descriptor is closed now, and a second readiness does not touch it.
    // SAFETY: F_GETFD on a number that names no open descriptor only fails.
    assert_eq!(unsafe { libc::fcntl(fd, libc::F_GETFD) }, -1);
    assert!(!notify::notify_fd().unwrap());
    assert!(notify::reloading().unwrap());
    assert!(notify::stopping().unwrap());
    assert!(notify::barrier(Duration::from_secs(5)).unwrap());
    let err = notify::status("two\nlines").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
