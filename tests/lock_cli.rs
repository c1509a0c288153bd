//! `pidward lock`: argument handling as flock(1) has it, the command's exit status, and the
//! errors (usage 64, unopenable 66, cannot create 73, cannot run the command 69), each compared
//! with `/usr/bin/flock` where it behaves the same.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use predicates::prelude::*;
use support::lock::{free, lock, pidward};

#[test]
fn exit_status_passes_through() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    for code in [0, 1, 23, 255] {
        lock(&[f.to_str().unwrap(), "sh", "-c", &format!("exit {code}")])
            .assert()
            .code(code);
    }
}

#[test]
fn death_by_signal_is_128_plus_n() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    for (sig, n) in [("TERM", 15), ("KILL", 9), ("INT", 2)] {
        lock(&[f.to_str().unwrap(), "sh", "-c", &format!("kill -{sig} $$")])
            .assert()
            .code(128 + n);
    }
}

#[test]
fn the_lock_is_released_when_the_command_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    lock(&[f.to_str().unwrap(), "true"]).assert().success();
    assert!(free(&f));
    lock(&[f.to_str().unwrap(), "false"]).assert().code(1);
    assert!(free(&f));
}

/// `flock ARGS` (the real one): exit code and stderr.
fn flock(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new("flock").args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_command_that_cannot_be_run_is_69_and_named_like_flock() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    let script = dir.path().join("script");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let script = script.to_str().unwrap();
    let missing = "no-such-command-pidward";
    for (args, program, why) in [
        (
            vec![fs, missing, "arg"],
            missing,
            "No such file or directory",
        ),
        (vec![fs, script], script, "Permission denied"),
        (
            vec!["-F", fs, missing],
            missing,
            "No such file or directory",
        ),
    ] {
        let (code, stderr) = flock(&args);
        assert_eq!(code, Some(69), "{args:?}");
        assert_eq!(
            stderr,
            format!("flock: failed to execute {program}: {why}\n")
        );
        lock(&args).assert().code(69).stdout("").stderr(format!(
            "pidward lock: failed to execute {program}: {why}\n"
        ));
    }
    assert!(free(&f));
}

#[test]
fn dash_c_with_a_shell_that_is_not_there_is_69_like_flock() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    let theirs = Command::new("flock")
        .args([fs, "-c", "true"])
        .env("SHELL", "/no/such/shell")
        .output()
        .unwrap();
    assert_eq!(theirs.status.code(), Some(69));
    lock(&[fs, "-c", "true"])
        .env("SHELL", "/no/such/shell")
        .assert()
        .code(69)
        .stderr("pidward lock: failed to execute /no/such/shell: No such file or directory\n");
}

#[test]
fn unopenable_lock_file_is_66_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("missing-dir").join("f");
    lock(&[f.to_str().unwrap(), "echo", "ran"])
        .assert()
        .code(66)
        .stdout("")
        .stderr(predicate::str::contains(format!(
            "pidward lock: cannot open lock file {}: No such file or directory",
            f.display()
        )));
    assert!(!f.parent().unwrap().exists());
}

#[test]
fn a_directory_can_be_locked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = "flock -n \"$0\" true || echo busy";
    lock(&[
        "-o",
        d.to_str().unwrap(),
        "sh",
        "-c",
        script,
        d.to_str().unwrap(),
    ])
    .assert()
    .success()
    .stdout("busy\n");
    assert!(free(d));
}

#[test]
fn lock_file_is_created_like_flock_does() {
    // O_CREAT with mode 0666, less the umask, like flock(1).
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours");
    let theirs = dir.path().join("theirs");
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 027; \"$P\" lock \"$1\" true && flock \"$2\" true")
        .arg("sh")
        .arg(&ours)
        .arg(&theirs)
        .env("P", env!("CARGO_BIN_EXE_pidward"))
        .status()
        .unwrap();
    assert!(out.success());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&ours), 0o640);
    assert_eq!(mode(&ours), mode(&theirs));
}

#[test]
fn read_only_file_system_locks_an_existing_file_and_cannot_create_one() {
    // A read-only bind mount in a private mount namespace: an existing file is still locked
    // (O_CREAT on an existing file needs no write access), a missing one is an error naming
    // the cause.
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::write(ro.join("existing"), "").unwrap();
    let script = "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" && \
                  \"$P\" lock \"$1/existing\" echo locked; echo code=$?; \
                  \"$P\" lock \"$1/missing\" echo locked; echo code=$?";
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(&ro)
        .env("P", env!("CARGO_BIN_EXE_pidward"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // flock(1) says EX_CANTCREAT (73) for a file it cannot create on a read-only file system.
    assert_eq!(stdout, "locked\ncode=0\ncode=73\n", "{stderr}");
    assert!(
        stderr.contains("missing: Read-only file system"),
        "{stderr}"
    );
}

#[test]
fn command_arguments_are_passed_verbatim_like_flock() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    // Everything after the file belongs to the command, options included.
    let args = ["printf", "%s|", "-x", "-n", "--", "-c", "--help", "-w", "1"];
    let ours = lock(&[&[fs][..], &args[..]].concat()).output().unwrap();
    let theirs = Command::new("flock").arg(&f).args(args).output().unwrap();
    assert!(ours.status.success());
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        "-x|-n|--|-c|--help|-w|1|"
    );
    assert_eq!(ours.stdout, theirs.stdout);
    // Options before the file are ours; a `--` there ends them.
    lock(&["-n", "--", fs, "printf", "%s|", "-s"])
        .assert()
        .success()
        .stdout("-s|");
    // A `--` right after the file is skipped (flock(1) would try to run "--").
    lock(&[fs, "--", "printf", "%s|", "--", "-u"])
        .assert()
        .success()
        .stdout("--|-u|");
}

#[test]
fn dash_c_runs_a_string_through_the_shell_like_flock() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    lock(&[fs, "-c", "echo $((6 * 7))"])
        .assert()
        .success()
        .stdout("42\n");
    lock(&[fs, "--command", "exit 5"]).assert().code(5);
    // Also as an option before the file.
    lock(&["-c", "echo before", fs])
        .assert()
        .success()
        .stdout("before\n");
    // The shell is $SHELL, else /bin/sh, as flock(1) has it.
    for shell in [None, Some("/bin/sh"), Some("/bin/bash")] {
        let mut ours = lock(&[fs, "-c", "echo $0"]);
        let mut theirs = Command::new("flock");
        theirs.arg(&f).args(["-c", "echo $0"]);
        match shell {
            Some(s) => {
                ours.env("SHELL", s);
                theirs.env("SHELL", s);
            }
            None => {
                ours.env_remove("SHELL");
                theirs.env_remove("SHELL");
            }
        }
        let expected = theirs.output().unwrap().stdout;
        ours.assert().success().stdout(expected);
    }
}

#[test]
fn usage_errors_exit_64_like_flock_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    let try_help = "\nTry 'pidward lock --help' for more information.\n";
    // (arguments, pidward's whole stderr but the prefix, whether flock 2.38.1 exits 64 too)
    let cases: &[(&[&str], &str, bool)] = &[
        (&[], "not enough arguments", true),
        (&["-w", "abc", fs, "true"], "invalid timeout: 'abc'", true),
        (&["-w", "", fs, "true"], "invalid timeout: ''", true),
        (
            &["-E", "256", fs, "true"],
            "invalid exit code (allowed values: 0-255): '256': Numerical result out of range",
            true,
        ),
        (
            &["-E", "x", fs, "true"],
            "invalid exit code (allowed values: 0-255): 'x'",
            true,
        ),
        (&[fs], &format!("invalid file descriptor: '{fs}'"), true),
        (
            &[fs, "-c"],
            "-c requires exactly one command argument",
            true,
        ),
        (
            &[fs, "--command", "echo", "x"],
            "--command requires exactly one command argument",
            true,
        ),
        (
            &["-c", "echo", fs, "extra"],
            "-c requires exactly one command argument",
            true,
        ),
        (&[fs, "--"], "missing command after '--'", false),
        (
            &["-o", "-F", fs, "true"],
            "the --no-fork and --close options are incompatible",
            true,
        ),
        (
            &["--bogus", fs, "true"],
            "unrecognized option '--bogus'",
            true,
        ),
        (&["-z", fs, "true"], "unrecognized option '-z'", true),
        (
            &["--command=x", fs],
            "unrecognized option '--command=x'",
            true,
        ),
        (
            &["--no", fs, "true"],
            "option '--no' is ambiguous; possibilities: '--nonblocking' '--no-fork'",
            true,
        ),
        (
            &["--nb=1", fs, "true"],
            "option '--nb' doesn't allow an argument",
            true,
        ),
        (&["-w"], "option '-w' requires an argument", true),
        (
            &["--timeout"],
            "option '--timeout' requires an argument",
            true,
        ),
        (&["--fd", "3"], "missing command", true),
        (&["--fd", "x", "true"], "invalid file descriptor: 'x'", true),
        (
            &["--", "-1"],
            "missing file descriptor, file or directory",
            false,
        ),
        (
            &["--start", "1x", fs, "true"],
            "invalid as start offset: '1x': Invalid argument",
            true,
        ),
        (
            &["--length", "-1", fs, "true"],
            "invalid as length of lock range: '-1': Invalid argument",
            true,
        ),
    ];
    for (args, message, same_in_flock) in cases {
        // getopt's own errors and "not enough arguments" add flock's hint.
        let hinted = message.starts_with("unrecognized")
            || message.starts_with("option")
            || *message == "not enough arguments";
        let want = format!(
            "pidward lock: {message}{}",
            if hinted { try_help } else { "\n" }
        );
        lock(args).assert().code(64).stdout("").stderr(want);
        if *same_in_flock {
            let other = dir.path().join("theirs");
            let theirs: Vec<&str> = args
                .iter()
                .map(|a| if *a == fs { other.to_str().unwrap() } else { a })
                .collect();
            assert_eq!(flock(&theirs).0, Some(64), "flock {theirs:?}");
        }
    }
    assert!(!f.exists(), "a usage error created the lock file");
}

#[test]
fn a_timeout_the_timer_cannot_take_is_71_like_flock() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    for w in ["-1", "-0.5", "inf", "1e30"] {
        let other = dir.path().join("theirs");
        let (code, stderr) = flock(&["-w", w, other.to_str().unwrap(), "true"]);
        assert_eq!(code, Some(71), "flock -w {w}");
        assert_eq!(stderr, "flock: cannot set up timer: Invalid argument\n");
        lock(&["-w", w, f.to_str().unwrap(), "echo", "ran"])
            .assert()
            .code(71)
            .stdout("")
            .stderr("pidward lock: cannot set up timer: Invalid argument\n");
    }
    // Unlike flock, which has created it by then, pidward checks before opening the file.
    assert!(!f.exists());
    // What truncates to zero microseconds is -w 0, which is -n.
    for w in ["-0", "0.0000001", "-0.0000001", "0x0p0"] {
        lock(&["-w", w, f.to_str().unwrap(), "echo", "ran"])
            .assert()
            .success()
            .stdout("ran\n");
    }
}

#[test]
fn verbose_reports_the_wait_and_the_command_on_stdout_like_flock() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let line = |name: &str| {
        format!(
            "^{name}: getting lock took [0-9]+\\.[0-9]{{6}} seconds\n{name}: executing echo\nran\n$"
        )
    };
    let theirs = Command::new("flock")
        .args(["--verbose", f.to_str().unwrap(), "echo", "ran"])
        .output()
        .unwrap();
    // flock's lines sit in its stdio buffer until it exits, so on a pipe they come after the
    // command's output; pidward flushes them before the command starts.
    let mut theirs: Vec<String> = String::from_utf8_lossy(&theirs.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    theirs.rotate_left(1);
    let theirs = theirs.join("\n") + "\n";
    assert!(
        predicate::str::is_match(line("flock"))
            .unwrap()
            .eval(&theirs),
        "{theirs}"
    );
    lock(&["--verbose", f.to_str().unwrap(), "echo", "ran"])
        .assert()
        .success()
        .stderr("")
        .stdout(predicate::str::is_match(line("pidward lock")).unwrap());
}

#[test]
fn no_fork_replaces_pidward_with_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let child = pidward()
        .args(["lock", "-F"])
        .arg(&f)
        .args([
            "sh",
            "-c",
            "echo $$; flock -n \"$0\" true || echo held",
            f.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{pid}\nheld\n")
    );
}

#[test]
fn a_fifo_is_locked_without_hanging() {
    // flock(1) would wait forever in open(2) for a writer.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) on a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    lock(&["-w", "5", fifo.to_str().unwrap(), "echo", "ran"])
        .timeout(std::time::Duration::from_secs(10))
        .assert()
        .success()
        .stdout("ran\n");
}

/// `SigIgn` and `SigBlk` of a command run by `runner` (pidward lock or flock) from a shell
/// that ignores HUP and QUIT, as nohup and `cmd &` arrange.
fn masks_under_nohup(runner: &[&str], f: &std::path::Path) -> (u64, u64) {
    let out = Command::new("sh")
        .arg("-c")
        .arg("trap '' HUP QUIT; exec \"$@\" grep -E '^Sig(Ign|Blk)' /proc/self/status")
        .arg("sh")
        .args(runner)
        .arg(f)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let hex = |key: &str| {
        let v = text
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("{key} in {text}"));
        u64::from_str_radix(v.trim(), 16).unwrap()
    };
    (hex("SigIgn:"), hex("SigBlk:"))
}

#[test]
fn ignored_signals_stay_ignored_like_flock_so_nohup_works() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let (ours_ign, ours_blk) = masks_under_nohup(&[env!("CARGO_BIN_EXE_pidward"), "lock"], &f);
    let (theirs_ign, theirs_blk) = masks_under_nohup(&["flock"], &f);
    // glibc's posix_spawn(3) also leaves its internal signals 32 and 33 ignored.
    let glibc_internal = (1u64 << 31) | (1 << 32);
    let hup_quit = (1u64 << (libc::SIGHUP - 1)) | (1 << (libc::SIGQUIT - 1));
    assert_eq!(ours_ign & hup_quit, hup_quit, "{ours_ign:#x}");
    assert_eq!(ours_ign & !glibc_internal, theirs_ign & !glibc_internal);
    // pidward blocks the signals it forwards; the command gets none of that.
    assert_eq!(ours_blk, 0);
    assert_eq!(ours_blk, theirs_blk);
}

/// The children of `pid`, from `/proc/PID/task/PID/children`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

#[test]
fn closed_standard_fds_are_reopened_on_dev_null_before_any_file_is_opened() {
    // Started with 0, 1 and 2 closed, pidward must not let the lock file (or the PID file of
    // `run`) take the place of standard output: the command's 0-2 are /dev/null and what it
    // prints goes nowhere, not into the file.
    let dir = tempfile::tempdir().unwrap();
    let lockf = dir.path().join("f");
    let pidf = dir.path().join("run.pid");
    let command = [
        "sh",
        "-c",
        "echo into-stdout; echo into-stderr >&2; exec sleep 30",
    ];
    let f = lockf.to_str().unwrap();
    let p = pidf.to_str().unwrap();
    for args in [vec!["lock", f], vec!["run", "-p", p, "--"]] {
        let mut pidward = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$@" <&- >&- 2>&-"#)
            .arg("sh")
            .arg(env!("CARGO_BIN_EXE_pidward"))
            .args(&args)
            .args(command)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let sleeper = loop {
            let sleeping = children(pidward.id()).into_iter().find(|c| {
                std::fs::read_to_string(format!("/proc/{c}/comm")).is_ok_and(|s| s == "sleep\n")
            });
            if let Some(pid) = sleeping {
                break pid;
            }
            assert!(std::time::Instant::now() < deadline, "{args:?}: no sleep");
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        for fd in 0..3 {
            let target = std::fs::read_link(format!("/proc/{sleeper}/fd/{fd}")).unwrap();
            assert_eq!(
                target,
                std::path::Path::new("/dev/null"),
                "{args:?} fd {fd}"
            );
        }
        assert_eq!(std::fs::read(&lockf).unwrap(), b"", "{args:?}");
        if args[0] == "run" {
            let pid = std::fs::read_to_string(&pidf).unwrap();
            assert_eq!(pid, format!("{}\n", pidward.id()));
        }
        // SAFETY: kill(2) of our own grandchild, which is still running (found above).
        unsafe { libc::kill(sleeper as i32, libc::SIGTERM) };
        assert_eq!(pidward.wait().unwrap().code(), Some(128 + 15), "{args:?}");
    }
    assert!(!pidf.exists(), "the PID file outlived the run");
}

#[test]
fn lock_errors_map_to_flocks_codes_and_nfs_gets_a_read_write_descriptor() {
    // strace(1) makes flock(2) fail as it does on some file systems, for flock and for us.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    let traced = |program: &str, inject: &str, args: &[&str]| {
        let out = Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "-e", inject, program])
            .args(args)
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let pidward = env!("CARGO_BIN_EXE_pidward");
    // ENOLCK: out of locks, EX_OSERR.
    let (code, _, stderr) = traced("flock", "inject=flock:error=ENOLCK", &[fs, "true"]);
    assert_eq!(
        (code, stderr),
        (Some(71), format!("flock: {fs}: No locks available\n"))
    );
    let (code, _, stderr) = traced(pidward, "inject=flock:error=ENOLCK", &["lock", fs, "true"]);
    assert_eq!(
        (code, stderr),
        (
            Some(71),
            format!("pidward lock: {fs}: No locks available\n")
        )
    );
    // EIO on the read-only descriptor (NFS): reopened read-write, on the same number.
    let show = "for d in /proc/$$/fd/*; do [ \"$(readlink $d)\" = \"$0\" ] && \
                echo ${d##*/} $(grep ^flags: /proc/$$/fdinfo/${d##*/}); done; true";
    let args = [fs, "sh", "-c", show, fs];
    let (code, theirs, _) = traced("flock", "inject=flock:error=EIO:when=1", &args);
    assert_eq!(code, Some(0));
    let mut ours_args = vec!["lock"];
    ours_args.extend(args);
    let (code, ours, stderr) = traced(pidward, "inject=flock:error=EIO:when=1", &ours_args);
    assert_eq!(code, Some(0), "{stderr}");
    let access = |line: &str| {
        let octal = line.split_whitespace().last().unwrap();
        u32::from_str_radix(octal, 8).unwrap() & libc::O_ACCMODE as u32
    };
    assert_eq!(access(&theirs), libc::O_RDWR as u32, "{theirs}");
    assert_eq!(access(&ours), libc::O_RDWR as u32, "{ours}");
    assert_eq!(
        theirs.split_whitespace().next(),
        ours.split_whitespace().next()
    );
    // A shared lock is not reopened: EIO is then EX_DATAERR.
    let (code, _, stderr) = traced(
        pidward,
        "inject=flock:error=EIO:when=1",
        &["lock", "-s", fs, "true"],
    );
    assert_eq!(
        (code, stderr),
        (
            Some(65),
            format!("pidward lock: {fs}: Input/output error\n")
        )
    );
}
