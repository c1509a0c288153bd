//! `pidward lock --fcntl`: open file description locks (`F_OFD_SETLK`/`F_OFD_SETLKW`), byte
//! ranges (`--start`, `--length`), and `--fd`, as util-linux 2.41/2.42 has them. flock(1)
//! 2.38.1 has none of these, so the kernel's own view (`/proc/locks`) is the reference.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::Duration;

use predicates::prelude::*;
use support::lock::{free, lock, pidward, wait_until};

/// `pidward lock ARGS PATH sh -c 'echo locked; exec sleep 60'`, holding until dropped.
struct OurHolder(Child, std::path::PathBuf);

impl OurHolder {
    fn new(args: &[&str], path: &std::path::Path) -> OurHolder {
        let mut child = pidward()
            .arg("lock")
            .args(args)
            .arg(path)
            .args(["sh", "-c", "echo locked; exec sleep 60"])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        OurHolder(child, path.to_path_buf())
    }
}

impl Drop for OurHolder {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group this test created.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
        // The command, killed with it, holds the lock until its descriptors are closed.
        let gone = || kernel_locks(&self.1).is_empty();
        assert!(
            wait_until(Duration::from_secs(10), gone),
            "the holder's lock lingers"
        );
    }
}

/// The `/proc/locks` entries on `path`'s inode: (class, type, start, end).
fn kernel_locks(path: &std::path::Path) -> Vec<(String, String, String, String)> {
    let m = std::fs::metadata(path).unwrap();
    let (major, minor) = (libc::major(m.dev()), libc::minor(m.dev()));
    let want = format!("{major:02x}:{minor:02x}:{}", m.ino());
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter(|l| !l.contains("->"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 8 && f[5] == want)
                .then(|| (f[1].into(), f[3].into(), f[6].into(), f[7].into()))
        })
        .collect()
}

#[test]
fn fcntl_takes_an_ofd_lock_independent_of_flock() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    let _holder = OurHolder::new(&["--fcntl"], &f);
    let want = ("OFDLCK".into(), "WRITE".into(), "0".into(), "EOF".into());
    assert_eq!(kernel_locks(&f), vec![want]);
    // flock(2) locks do not see it (flock(1) itself agrees)...
    assert!(free(&f));
    lock(&["-n", fs, "echo", "flock"])
        .assert()
        .success()
        .stdout("flock\n");
    // ...OFD locks do, silently unless asked.
    lock(&["--fcntl", "-n", "-E", "7", fs, "true"])
        .assert()
        .code(7)
        .stderr("");
    lock(&["--fcntl", "-s", "-n", "--verbose", fs, "true"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "pidward lock: failed to get lock\n",
        ));
    lock(&["--fcntl", "-w", "0.2", "--verbose", fs, "true"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "pidward lock: timeout while waiting to get lock\n",
        ));
}

#[test]
fn fcntl_shared_locks_coexist_and_waiters_get_the_lock_when_it_is_let_go() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    let holder = OurHolder::new(&["--fcntl", "--shared"], &f);
    assert_eq!(kernel_locks(&f)[0].1, "READ");
    lock(&["--fcntl", "-s", "-n", fs, "echo", "both"])
        .assert()
        .success()
        .stdout("both\n");
    let waiter = pidward()
        .args(["lock", "--fcntl", "-w", "20", fs, "echo", "mine"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(holder);
    let out = waiter.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"mine\n");
}

#[test]
fn byte_ranges_lock_only_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    // --start and --length imply --fcntl.
    let _holder = OurHolder::new(&["--start", "10", "--length", "5"], &f);
    let want = ("OFDLCK".into(), "WRITE".into(), "10".into(), "14".into());
    assert_eq!(kernel_locks(&f), vec![want]);
    let try_range = |start: &str, length: &str| {
        lock(&["-n", "--start", start, "--length", length, fs, "true"])
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(try_range("0", "10"), Some(0));
    assert_eq!(try_range("15", "0"), Some(0));
    assert_eq!(try_range("14", "1"), Some(1));
    assert_eq!(try_range("0", "0"), Some(1));
    assert_eq!(try_range("9", "2"), Some(1));
    // --length alone starts at 0.
    lock(&["-n", "--length=10", fs, "true"]).assert().success();
    lock(&["-n", "--length=11", fs, "true"]).assert().code(1);
}

#[test]
fn sizes_take_util_linux_suffixes() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    for (start, length, first, last) in [
        ("1", "2", "1", "2"),
        ("1K", "1KiB", "1024", "2047"),
        ("1KB", "0x10", "1000", "1015"),
        ("1.5K", "010", "1536", "1543"),
        ("2M", "1", "2097152", "2097152"),
    ] {
        let holder = OurHolder::new(&["-s", "--start", start, "--length", length], &f);
        let want = ("OFDLCK".into(), "READ".into(), first.into(), last.into());
        assert_eq!(
            kernel_locks(&f),
            vec![want],
            "--start {start} --length {length}"
        );
        drop(holder);
    }
    // A range the kernel cannot represent is an error on the descriptor, as in flock.
    let huge = (u64::MAX / 2 + 1).to_string();
    lock(&["--start", &huge, f.to_str().unwrap(), "true"])
        .assert()
        .code(65)
        .stderr(format!("pidward lock: {}: Invalid argument\n", f.display()));
}

#[test]
fn an_exclusive_fcntl_lock_opens_the_file_for_writing() {
    // F_WRLCK needs a descriptor open for writing: flock opens O_WRONLY for it (O_RDONLY
    // otherwise), and the command inherits that descriptor.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let access = |args: &[&str]| {
        let script = "for d in /proc/$$/fd/*; do [ \"$(readlink $d)\" = \"$0\" ] && \
                      grep ^flags: /proc/$$/fdinfo/${d##*/}; done";
        let out = lock(args)
            .arg(&f)
            .args(["sh", "-c", script, f.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let octal = text.trim().trim_start_matches("flags:").trim();
        u32::from_str_radix(octal, 8).unwrap() & libc::O_ACCMODE as u32
    };
    assert_eq!(access(&["--fcntl"]), libc::O_WRONLY as u32);
    assert_eq!(access(&["--fcntl", "-s"]), libc::O_RDONLY as u32);
    assert_eq!(access(&[]), libc::O_RDONLY as u32);
}

/// `sh -c SCRIPT` with fd 9 open read-write on `f`; `$P` is pidward.
fn with_fd9(f: &std::path::Path, script: &str) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("exec 9<>\"$F\"; {script}"))
        .env("F", f)
        .env("P", env!("CARGO_BIN_EXE_pidward"))
        .timeout(Duration::from_secs(60));
    cmd
}

#[test]
fn fd_wraps_the_lock_of_a_descriptor_around_a_command() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    // The command runs with fd 9 locked; the lock belongs to the shell's description, so it
    // outlives pidward until the shell closes fd 9.
    with_fd9(
        &f,
        "\"$P\" lock --fd 9 sh -c 'flock -n \"$F\" true; echo inside=$?'; \
         flock -n \"$F\" true; echo after=$?; exec 9>&-; flock -n \"$F\" true; echo closed=$?",
    )
    .assert()
    .success()
    .stdout("inside=1\nafter=1\nclosed=0\n");
    // -c STRING as an option, and --close: the command does not get fd 9 (util-linux's
    // `close` test: the inner lock of fd 9 finds it closed, EX_DATAERR).
    with_fd9(
        &f,
        "\"$P\" lock --close --fd 9 --command \"\\\"$P\\\" lock -n --fd 9 true\"; echo code=$?; \
         \"$P\" lock --fd 9 -c \"\\\"$P\\\" lock -n --fd 9 true\"; echo code=$?",
    )
    .assert()
    .success()
    .stdout("code=65\ncode=0\n")
    .stderr("pidward lock: 9: Bad file descriptor\n");
    // --fd with --fcntl.
    with_fd9(
        &f,
        "\"$P\" lock --fcntl --fd 9 sh -c '\"$P\" lock --fcntl -n \"$F\" true; echo inside=$?'",
    )
    .assert()
    .success()
    .stdout("inside=1\n");
}

#[test]
fn unlock_drops_an_ofd_lock_of_a_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    with_fd9(
        &f,
        "\"$P\" lock --fcntl 9; \"$P\" lock --fcntl -n \"$F\" true; echo held=$?; \
         \"$P\" lock --fcntl -u 9; \"$P\" lock --fcntl -n \"$F\" true; echo after=$?",
    )
    .assert()
    .success()
    .stdout("held=1\nafter=0\n");
}

#[test]
fn a_range_conflict_names_the_process_that_took_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    let holder = OurHolder::new(&["--start", "10", "--length", "5"], &f);
    let pid = holder.0.id();
    let out = lock(&["--start", "12", "-n", "--verbose", fs, "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // pidward lock took it; the `sleep` that inherited the description is not named.
    let named = format!("pidward lock: {fs} is locked by PID {pid} (");
    assert!(stderr.contains(&named), "{stderr}");
    assert_eq!(stderr.matches("PID ").count(), 1, "{stderr}");
    assert!(stderr.contains("running for "), "{stderr}");
}
