//! `pidward lock`: signals sent to it reach the command, the lock is held until the command
//! has exited, and `-o` keeps the lock descriptor from the command.

mod support;

use std::io::{BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::lock::{free, kill, lock, pidward, read_until, wait_until};

/// A command that reports the signal it gets, lingers a moment with the lock still held by
/// pidward, then exits with 100 + the signal number. It polls with short sleeps (dash's `wait`
/// can miss a trapped signal that arrives just before it starts waiting), and gives up with 99
/// after some 30 s.
fn trapping_script() -> String {
    let mut s = String::new();
    for (name, n) in SIGNALS {
        s += &format!(
            "trap 'echo got-{name}; sleep 0.5; exit {}' {name}; ",
            100 + n
        );
    }
    s + "echo ready; i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; exit 99"
}

const SIGNALS: [(&str, i32); 6] = [
    ("TERM", libc::SIGTERM),
    ("INT", libc::SIGINT),
    ("HUP", libc::SIGHUP),
    ("QUIT", libc::SIGQUIT),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
];

#[test]
fn signals_are_forwarded_and_the_lock_outlives_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let script = trapping_script();
    for (name, n) in SIGNALS {
        // -o: only pidward holds the lock, so it is held exactly as long as pidward keeps it.
        let mut child = pidward()
            .args(["lock", "-o"])
            .arg(&f)
            .args(["sh", "-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        read_until(&mut out, "ready");
        assert!(!free(&f), "{name}: not locked while the command runs");
        let sent = Instant::now();
        kill(child.id(), n);
        read_until(&mut out, &format!("got-{name}"));
        // The command got it and lingers: pidward is alive and still holds the lock.
        assert!(!free(&f), "{name}: lock released before the command exited");
        let mut rest = String::new();
        out.read_to_string(&mut rest).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(100 + n), "{name}: {rest}");
        assert!(sent.elapsed() < Duration::from_secs(10), "{name}: too slow");
        assert!(free(&f), "{name}: lock still held after pidward exited");
    }
}

#[test]
fn a_command_killed_by_a_forwarded_signal_gives_128_plus_n() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let mut child = pidward()
        .arg("lock")
        .arg(&f)
        .args(["sh", "-c", "echo ready; exec sleep 30"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    read_until(&mut out, "ready");
    // Whether the shell or the `sleep` it becomes gets it, TERM kills the command.
    let pid = child.id();
    kill(pid, libc::SIGTERM);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
}

/// The targets of the command's open descriptors, as the command sees them.
fn command_fds(extra: &[&str], f: &std::path::Path) -> String {
    let mut args = vec![];
    args.extend_from_slice(extra);
    args.push(f.to_str().unwrap());
    args.extend([
        "sh",
        "-c",
        "for fd in /proc/$$/fd/*; do readlink \"$fd\"; done; exit 0",
    ]);
    let out = lock(&args).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_command_inherits_the_lock_descriptor_unless_close() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let path = f.to_str().unwrap();
    let inherited = command_fds(&[], &f);
    assert!(
        inherited.lines().any(|l| l == path),
        "without -o the command should hold the lock file open: {inherited}"
    );
    let closed = command_fds(&["-o"], &f);
    assert!(
        !closed.lines().any(|l| l == path),
        "with -o the command should not see the lock file: {closed}"
    );
    let closed = command_fds(&["--close"], &f);
    assert!(!closed.lines().any(|l| l == path), "{closed}");
}

#[test]
fn without_close_a_background_child_keeps_the_lock_like_flock() {
    // The lock belongs to the open file description: whoever inherited it holds it.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    lock(&[fs, "sh", "-c", "sleep 1 >/dev/null 2>&1 &"])
        .assert()
        .success();
    assert!(!free(&f), "the background child should still hold the lock");
    assert!(wait_until(Duration::from_secs(10), || free(&f)));
    // With -o it does not inherit it.
    lock(&["-o", fs, "sh", "-c", "sleep 1 >/dev/null 2>&1 &"])
        .assert()
        .success();
    assert!(free(&f));
}
