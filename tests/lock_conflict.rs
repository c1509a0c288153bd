//! `pidward lock`: conflicts, waiting, shared and exclusive locks, and the FD mode, against
//! holders run by the real flock(1).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use predicates::prelude::*;
use support::lock::{Holder, free, lock};

#[test]
fn conflict_is_silent_like_flock_and_verbose_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let holder = Holder::new(&[], &f);
    // flock(1) agrees that the lock is taken, and says nothing about it.
    let theirs = Command::new("flock")
        .arg("-n")
        .arg(&f)
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(theirs.status.code(), Some(1));
    assert!(theirs.stderr.is_empty() && theirs.stdout.is_empty());
    // Silent too (stderr is not a terminal here): cron mails nothing for a skipped run.
    lock(&["-n", f.to_str().unwrap(), "echo", "ran"])
        .assert()
        .code(1)
        .stdout("")
        .stderr("");
    lock(&["-n", "--verbose", f.to_str().unwrap(), "echo", "ran"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with(format!(
            "pidward lock: failed to get lock\npidward lock: {} is locked by PID {} (flock ",
            f.display(),
            holder.pid()
        )))
        .stderr(predicate::str::contains("running for "));
}

#[test]
fn a_person_at_a_terminal_is_told_who_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let holder = Holder::new(&[], &f);
    // script(1) runs the command on a pseudo-terminal: stderr is a terminal there.
    let out = Command::new("script")
        .args([
            "-qec",
            "\"$P\" lock -n \"$F\" true; echo \"code=$?\"",
            "/dev/null",
        ])
        .env("P", env!("CARGO_BIN_EXE_pidward"))
        .env("F", &f)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "pidward lock: {} is locked by PID {}",
            f.display(),
            holder.pid()
        )),
        "{text}"
    );
    assert!(!text.contains("failed to get lock"), "{text}");
    assert!(text.contains("code=1"), "{text}");
}

#[test]
fn conflict_exit_code_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let _holder = Holder::new(&[], &f);
    lock(&["-n", "-E", "42", "--verbose", f.to_str().unwrap(), "true"])
        .assert()
        .code(42)
        .stderr(predicate::str::contains("is locked by PID"));
    lock(&[
        "--nonblock",
        "--conflict-exit-code=0",
        f.to_str().unwrap(),
        "true",
    ])
    .assert()
    .code(0);
}

#[test]
fn timeout_waits_about_that_long() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let holder = Holder::new(&[], &f);
    let start = Instant::now();
    lock(&["-w", "0.3", "--verbose", f.to_str().unwrap(), "echo", "ran"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "pidward lock: timeout while waiting to get lock\n",
        ))
        .stderr(predicate::str::contains(format!(
            "timed out after 0.3s: {} is locked by PID {}",
            f.display(),
            holder.pid()
        )));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
}

#[test]
fn wait_zero_is_nonblocking() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let _holder = Holder::new(&[], &f);
    let start = Instant::now();
    lock(&[
        "-w",
        "0",
        "-E",
        "9",
        "--verbose",
        f.to_str().unwrap(),
        "true",
    ])
    .assert()
    .code(9)
    .stderr(predicate::str::contains("failed to get lock"))
    .stderr(predicate::str::contains("is locked by PID"))
    .stderr(predicate::str::contains("timed out").not());
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn waits_for_the_holder_to_let_go() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    // The holder lets go after half a second.
    let mut holder = Command::new("flock")
        .arg(&f)
        .args(["sh", "-c", "echo locked; sleep 0.5"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let start = Instant::now();
    lock(&["-w", "10", f.to_str().unwrap(), "echo", "ran"])
        .assert()
        .success()
        .stdout("ran\n");
    let waited = start.elapsed();
    holder.wait().unwrap();
    assert!(
        waited >= Duration::from_millis(200),
        "did not wait: {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[test]
fn shared_locks_coexist_and_exclude_exclusive_ones() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    let _holder = Holder::new(&["-s"], &f);
    lock(&["-s", "-n", fs, "echo", "shared"])
        .assert()
        .success()
        .stdout("shared\n");
    lock(&["--shared", "-n", fs, "true"]).assert().success();
    lock(&["-n", "--verbose", fs, "true"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is locked by PID"));
    lock(&["-x", "-n", fs, "true"]).assert().code(1);
    lock(&["-e", "-n", fs, "true"]).assert().code(1);
}

#[test]
fn our_shared_lock_admits_readers_and_blocks_writers() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    let script = "flock -n -s \"$0\" true && echo reader-in; \
                  flock -n -x \"$0\" true || echo writer-out";
    lock(&["-s", "-o", fs, "sh", "-c", script, fs])
        .assert()
        .success()
        .stdout("reader-in\nwriter-out\n");
    lock(&[
        "-o",
        fs,
        "sh",
        "-c",
        "flock -n -s \"$0\" true || echo reader-out",
        fs,
    ])
    .assert()
    .success()
    .stdout("reader-out\n");
}

#[test]
fn the_last_of_shared_and_exclusive_wins() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    let _holder = Holder::new(&["-s"], &f);
    lock(&["-x", "-s", "-n", fs, "true"]).assert().success();
    lock(&["-s", "-x", "-n", fs, "true"]).assert().code(1);
}

/// `sh -c SCRIPT` with fd 9 open on `f` for writing, as `( ... ) 9>f` does; `$P` is pidward.
fn with_fd9(f: &std::path::Path, script: &str) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("exec 9>\"$F\"; {script}"))
        .env("F", f)
        .env("P", env!("CARGO_BIN_EXE_pidward"))
        .timeout(Duration::from_secs(60));
    cmd
}

#[test]
fn fd_mode_locks_the_inherited_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    // The shell keeps the lock through fd 9 after pidward has exited.
    with_fd9(
        &f,
        "\"$P\" lock -n 9 || exit 1; flock -n \"$F\" true; echo other=$?; \
         \"$P\" lock -n 9 && echo again",
    )
    .assert()
    .success()
    .stdout("other=1\nagain\n");
    assert!(free(&f));
}

#[test]
fn fd_mode_conflict_names_the_descriptor_and_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let holder = Holder::new(&[], &f);
    with_fd9(
        &f,
        "\"$P\" lock -n -E 3 --verbose 9 || exit $?; echo locked",
    )
    .assert()
    .code(3)
    .stdout("")
    .stderr(predicate::str::contains(format!(
        "file descriptor 9 ({}) is locked by PID {}",
        f.display(),
        holder.pid()
    )));
}

#[test]
fn unlock_releases_the_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    with_fd9(
        &f,
        "\"$P\" lock 9; flock -n \"$F\" true; echo held=$?; \
         \"$P\" lock -u 9; flock -n \"$F\" true; echo after=$?",
    )
    .assert()
    .success()
    .stdout("held=1\nafter=0\n");
}

#[test]
fn fd_mode_rejects_a_closed_descriptor() {
    // flock(1) calls flock(2) on it and reports EBADF as EX_DATAERR.
    let theirs = Command::new("flock").args(["-n", "97"]).output().unwrap();
    assert_eq!(theirs.status.code(), Some(65));
    assert_eq!(
        String::from_utf8_lossy(&theirs.stderr),
        "flock: 97: Bad file descriptor\n"
    );
    lock(&["-n", "97"])
        .assert()
        .code(65)
        .stdout("")
        .stderr("pidward lock: 97: Bad file descriptor\n");
}
