//! Hostile environments: few descriptors, no environment, closed standard streams, no `/proc`,
//! a read-only or full file system, a PID file that is a FIFO, socket or device, `umask 777`,
//! no `PATH`. Each gets a clear message and a documented exit code; never a hang, a panic or
//! a wrong "running".

#![cfg(feature = "test-helpers")]

mod support;
use support::guards::*;
use support::{exe, pidward};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` (a shell line, `$P` is pidward) with a deadline; panics on a hang.
fn sh(script: &str, dir: &Path) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("P", exe())
        .env("D", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("hang: {script}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// No abort, no panic, an exit code from `allowed`, and a message when it is a failure.
fn sane(what: &str, out: &Output, allowed: &[i32]) -> i32 {
    let t = text(out);
    let code = out.status.code().unwrap_or(-1);
    assert!(!t.contains("panicked"), "{what}: {t}");
    assert!(allowed.contains(&code), "{what}: exit {code}: {t}");
    if code != 0 && allowed != [1] {
        assert!(
            !t.trim().is_empty(),
            "{what}: exit {code} without a message"
        );
    }
    code
}

/// A held PID file (the guard helper) in `dir`.
fn held(dir: &Path) -> (Proc, PathBuf) {
    let f = dir.join("held.pid");
    (guard("hold", &f, &[]), f)
}

#[test]
fn few_descriptors_give_a_message_never_a_wrong_answer() {
    let dir = tempdir();
    let (_holder, _) = held(dir.path());
    for n in 3..=8 {
        let run = |cmd: &str| {
            sh(
                &format!("exec prlimit --nofile={n}:{n} \"$P\" {cmd}"),
                dir.path(),
            )
        };
        // With 3 descriptors the dynamic loader itself cannot open the C library (127).
        let loader = if n == 3 { &[127][..] } else { &[][..] };
        let allow = |codes: &[i32]| [codes, loader].concat();
        let st = run("status \"$D/held.pid\"");
        // Running, or unknown when the file cannot even be opened: never "not running".
        sane(&format!("status, nofile {n}"), &st, &allow(&[0, 4]));
        let stop = run("stop -t \"$D/held.pid\"");
        sane(&format!("stop -t, nofile {n}"), &stop, &allow(&[0, 4]));
        let out = run("run -p \"$D/run.pid\" -- true");
        sane(&format!("run, nofile {n}"), &out, &allow(&[0, 125]));
        let out = run("lock \"$D/lock\" true");
        sane(&format!("lock, nofile {n}"), &out, &allow(&[0, 66, 69, 71]));
        let out =
            run("run -d -p \"$D/d.pid\" --ready notify -- sh -c 'exec \"$P\" notify --ready'");
        sane(&format!("run -d, nofile {n}"), &out, &allow(&[0, 122, 125]));
        // Whatever happened, nothing is left holding the files of the runs.
        assert!(!dir.path().join("run.pid").exists(), "nofile {n}");
        let _ = pidward()
            .args(["stop", "-R", "KILL/5"])
            .arg(dir.path().join("d.pid"))
            .output();
    }
}

#[test]
fn an_empty_environment_and_no_path_still_work() {
    let dir = tempdir();
    let (_holder, _) = held(dir.path());
    for prefix in ["env -i", "env -u PATH"] {
        let out = sh(
            &format!("{prefix} \"$P\" run -p \"$D/r.pid\" -- true"),
            dir.path(),
        );
        assert_eq!(sane(prefix, &out, &[0]), 0);
        let out = sh(&format!("{prefix} \"$P\" lock \"$D/l\" true"), dir.path());
        assert_eq!(sane(prefix, &out, &[0]), 0);
        let out = sh(
            &format!("{prefix} \"$P\" status \"$D/held.pid\""),
            dir.path(),
        );
        assert_eq!(sane(prefix, &out, &[0]), 0);
        // A command that is not found is 127 and named, with or without PATH.
        let out = sh(
            &format!("{prefix} \"$P\" run -- no-such-command-x"),
            dir.path(),
        );
        assert_eq!(sane(prefix, &out, &[127]), 127);
        assert!(text(&out).contains("no-such-command-x"), "{}", text(&out));
    }
}

#[test]
fn closed_standard_streams_change_nothing_but_the_messages() {
    let dir = tempdir();
    let (_holder, _) = held(dir.path());
    let closed = "<&- >&- 2>&-";
    let cases = [
        ("status \"$D/held.pid\"", 0),
        ("status \"$D/none.pid\"", 3),
        ("stop -t \"$D/held.pid\"", 0),
        ("run -p \"$D/r.pid\" -- true", 0),
        ("run -p \"$D/r.pid\" -- sh -c 'exit 3'", 3),
        ("lock \"$D/l\" true", 0),
        (
            "run -d -p \"$D/d.pid\" --ready notify -- sh -c 'exec \"$P\" notify --ready'",
            0,
        ),
    ];
    for (cmd, want) in cases {
        // The code goes to a file: the streams it would be printed on are closed.
        let file = dir.path().join("code");
        let out = sh(
            &format!("\"$P\" {cmd} {closed}; echo $? > \"$D/code\""),
            dir.path(),
        );
        assert!(out.status.success());
        let code: i32 = std::fs::read_to_string(&file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(code, want, "{cmd}");
    }
}

#[test]
fn without_proc_a_foreign_file_is_unknown_and_a_locked_one_still_running() {
    let dir = tempdir();
    let (_holder, _) = held(dir.path());
    std::fs::write(dir.path().join("foreign.pid"), "1\n").unwrap();
    // A private mount namespace whose /proc is an empty tmpfs.
    let script = r#"
        mount -t tmpfs none /proc || exit 99
        "$P" status "$D/held.pid"; echo "held=$?"
        "$P" status "$D/foreign.pid"; echo "foreign=$?"
        "$P" stop "$D/foreign.pid"; echo "stop_foreign=$?"
        "$P" stop -t "$D/held.pid"; echo "stop_held=$?"
        "$P" run -p "$D/r.pid" -- true; echo "run=$?"
        "$P" lock "$D/l" true; echo "lock=$?"
    "#;
    let out = sh(
        &format!(
            "unshare --mount --fork sh -c '{}'",
            script.replace('\'', "'\\''")
        ),
        dir.path(),
    );
    let t = text(&out);
    assert!(!t.contains("panicked"), "{t}");
    for want in [
        "held=0",
        "foreign=4",
        "stop_foreign=4",
        "stop_held=0",
        "run=0",
        "lock=0",
    ] {
        assert!(t.contains(want), "{want}: {t}");
    }
    // Never "not running" for PID 1 just because /proc cannot show it.
    assert!(t.contains("/proc/1"), "{t}");
}

#[test]
fn a_read_only_or_full_file_system_fails_with_the_step_and_leaves_nothing() {
    let dir = tempdir();
    let script = r#"
        mkdir "$D/ro" "$D/full"
        mount -t tmpfs -o ro,size=64k none "$D/ro" || exit 99
        mount -t tmpfs -o size=16k,nr_inodes=8 none "$D/full" || exit 99
        dd if=/dev/zero of="$D/full/fill" bs=4k count=64 2>/dev/null
        "$P" run -p "$D/ro/F" -- true; echo "run_ro=$?"
        "$P" run -d -p "$D/ro/F" -- true; echo "rund_ro=$?"
        "$P" lock "$D/ro/L" true; echo "lock_ro=$?"
        "$P" status "$D/ro/F"; echo "status_ro=$?"
        "$P" run -p "$D/full/F" -- true; echo "run_full=$?"
        "$P" lock "$D/full/L" true; echo "lock_full=$?"
        ls "$D/full"
        umount "$D/ro" "$D/full"
    "#;
    let out = sh(
        &format!(
            "unshare --mount --fork sh -c '{}'",
            script.replace('\'', "'\\''")
        ),
        dir.path(),
    );
    let t = text(&out);
    assert!(!t.contains("panicked"), "{t}");
    for want in [
        "run_ro=125",
        "rund_ro=125",
        "lock_ro=73",
        "status_ro=3",
        "run_full=125",
    ] {
        assert!(t.contains(want), "{want}: {t}");
    }
    assert!(t.contains("Read-only file system"), "{t}");
    assert!(t.contains("No space left on device"), "{t}");
    // The full file system: lock may create its (empty) file if an inode is left, or not.
    assert!(
        t.contains("lock_full=0") || t.contains("lock_full=73"),
        "{t}"
    );
    // A failed acquirer leaves no half-written PID file behind.
    let listing: Vec<&str> = t.lines().filter(|l| *l == "F").collect();
    assert!(listing.is_empty(), "{t}");
}

#[test]
fn a_pid_file_that_is_a_socket_or_a_device_is_left_alone() {
    let dir = tempdir();
    let sock = dir.path().join("sock.pid");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    for (path, what) in [
        (sock.as_path(), "socket"),
        (Path::new("/dev/null"), "device"),
    ] {
        let st = pidward().arg("status").arg(path).output().unwrap();
        assert_eq!(sane(what, &st, &[4]), 4);
        assert!(text(&st).contains("not a regular file"), "{}", text(&st));
        let stop = pidward().arg("stop").arg(path).output().unwrap();
        assert_eq!(sane(what, &stop, &[4]), 4);
        let run = pidward()
            .args(["run", "-p"])
            .arg(path)
            .args(["--", "true"])
            .output()
            .unwrap();
        assert_eq!(sane(what, &run, &[125]), 125);
        assert!(
            text(&run).contains(&path.display().to_string()),
            "{}",
            text(&run)
        );
    }
    assert!(sock.exists());
    assert_eq!(std::fs::read("/dev/null").unwrap(), b"");
}

#[test]
fn umask_777_changes_no_mode_and_no_outcome() {
    let dir = tempdir();
    let script = r#"
        umask 777
        "$P" run -p "$D/r.pid" -- sh -c 'stat -c %a "$0"' "$D/r.pid"; echo "run=$?"
        "$P" run -d -p "$D/d.pid" --ready notify -- sh -c '"$1" notify --ready; exec sleep 30' x "$P"; echo "rund=$?"
        stat -c "mode=%a" "$D/d.pid"
        "$P" status "$D/d.pid"; echo "status=$?"
        "$P" stop "$D/d.pid"; echo "stop=$?"
        "$P" lock "$D/l" true; echo "lock=$?"
    "#;
    let out = sh(script, dir.path());
    let t = text(&out);
    for want in [
        "644\nrun=0",
        "rund=0",
        "mode=644",
        "status=0",
        "stop=0",
        "lock=0",
    ] {
        assert!(t.contains(want), "{want}: {t}");
    }
}
