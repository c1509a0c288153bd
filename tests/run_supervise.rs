//! `pidward run` in the foreground: exit statuses, set-up failures, PID files, environment,
//! output files and the command's clean slate.

mod support;

use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use support::run::*;

fn pidward_run(args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("pidward").unwrap();
    cmd.arg("run").args(args);
    cmd
}

#[test]
fn every_exit_code_passes_through() {
    // One shell runs all 256 commands, so that this stays fast.
    let script = r#"
        for code in $(seq 0 255); do
            "$PIDWARD" run -- sh -c "exit $code"
            got=$?
            [ "$got" = "$code" ] || echo "exit $code came back as $got"
        done
    "#;
    let out = Command::new("sh")
        .args(["-c", script])
        .env("PIDWARD", exe())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(stdout(&out), "", "mismatches");
}

#[test]
fn death_by_signal_is_128_plus_n() {
    for (sig, code) in [
        ("TERM", 143),
        ("KILL", 137),
        ("INT", 130),
        ("SEGV", 139),
        ("USR1", 138),
    ] {
        let (out, _) = run(&["--", "sh", "-c", &format!("kill -{sig} $$")]);
        assert_eq!(out.status.code(), Some(code), "{sig}: {}", stderr(&out));
    }
}

#[test]
fn missing_command_is_127_and_non_executable_is_126() {
    let (out, took) = run(&["--", "/nonexistent/pidward-cmd"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("exec /nonexistent/pidward-cmd: No such file or directory"),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(1));
    let (out, _) = run(&["--", "pidward-no-such-command-on-path"]);
    assert_eq!(out.status.code(), Some(127));

    let s = Scratch::new();
    let script = s.path("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let (out, _) = run(&["--", script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126));
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    let (out, _) = run(&["--", s.dir.path().to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(126),
        "a directory: {}",
        stderr(&out)
    );
}

/// A set-up failure: exit 125 within a second, a message naming the step and the error, no
/// PID file and no process left.
fn assert_setup_fails(args: &[&str], names: &[&str]) {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    let child_pidfile = s.path("child.pid");
    let mut all = vec![
        "-p",
        pidfile.to_str().unwrap(),
        "--child-pidfile",
        child_pidfile.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--", "sh", "-c", "sleep 30; :", &s.tag]);
    let (out, took) = run(&all);
    let msg = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{msg}");
    for name in names {
        assert!(msg.contains(name), "{name:?} not in: {msg}");
    }
    // The message is pidward's own line; the lifecycle log (stderr by default) has its own.
    assert!(msg.lines().any(|l| l.starts_with("pidward run: ")), "{msg}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(
        !pidfile.exists() && !child_pidfile.exists(),
        "PID file left behind"
    );
    assert!(s.stray().is_empty(), "stray: {:?}", s.stray());
}

#[test]
fn failing_set_up_steps_are_named() {
    assert_setup_fails(
        &["--chdir", "/nonexistent/dir"],
        &["chdir /nonexistent/dir", "No such file or directory"],
    );
    assert_setup_fails(
        &["--chroot", "/nonexistent/root"],
        &["chroot /nonexistent/root", "No such file or directory"],
    );
    assert_setup_fails(
        &["--user", "pidward-nobody-here"],
        &["user", "\"pidward-nobody-here\""],
    );
    assert_setup_fails(
        &["--group", "pidward-nogroup-here"],
        &["user", "\"pidward-nogroup-here\""],
    );
    assert_setup_fails(
        &["--output", "/nonexistent/dir/out.log"],
        &[
            "stdout /nonexistent/dir/out.log",
            "No such file or directory",
        ],
    );
    assert_setup_fails(
        &["--stderr", "/nonexistent/dir/err.log"],
        &[
            "stderr /nonexistent/dir/err.log",
            "No such file or directory",
        ],
    );
    assert_setup_fails(
        &["--rlimit", "nofile=unlimited"],
        &["rlimit nofile", "Operation not permitted"],
    );
    assert_setup_fails(
        &["--env-file", "/nonexistent/env"],
        &["env-file", "/nonexistent/env", "No such file or directory"],
    );
}

#[test]
fn an_env_file_value_with_a_nul_byte_is_refused_naming_the_line() {
    // Found by fuzz/fuzz_targets/env_file.rs: the value was accepted and the start failed
    // later, when the command was prepared, without naming the file.
    let s = Scratch::new();
    let env_file = s.path("env");
    std::fs::write(&env_file, "A=1\nB=x\0y\n").unwrap();
    let path = env_file.to_str().unwrap();
    assert_setup_fails(
        &["--env-file", path],
        &["env-file", &format!("{path}:2:"), "NUL"],
    );
}

#[test]
fn usage_errors_exit_2_and_change_nothing() {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    for args in [
        &["--umask", "abc"][..],
        &["--umask", "999"],
        &["--rlimit", "files=10"],
        &["--rlimit", "nofile=10:5"],
        &["--ready", "fd:2"],
        &["--ready", "socket"],
        &["--env", "NOEQUALS"],
        &["--ready-timeout", "soon"],
        &["-u", "root:root", "-g", "root"],
        &["--exec", "--ready", "notify"],
        &["--exec", "--child-pidfile", "/tmp/x"],
    ] {
        let mut all = vec!["-p", pidfile.to_str().unwrap()];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--", "true"]);
        let (out, _) = run(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty());
        assert!(!pidfile.exists(), "{args:?} created the PID file");
    }
    // No command at all.
    let (out, _) = run(&[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn pid_files_name_the_supervisor_and_the_command_and_go_away() {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    let child_pidfile = s.path("child.pid");
    let (out, _) = run(&[
        "-p",
        pidfile.to_str().unwrap(),
        "--child-pidfile",
        child_pidfile.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        // The child's PID is written once the spawn returned: the command may start first,
        // and waits, as any reader of a locked but empty PID file does.
        r#"while [ ! -s "$2" ]; do sleep 0.01; done; echo "$PPID $$ $(cat "$1") $(cat "$2")""#,
        "sh",
        pidfile.to_str().unwrap(),
        child_pidfile.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let f: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(f.len(), 4, "{text:?}");
    assert_eq!(
        f[0], f[2],
        "the PID file names pidward, the command's parent"
    );
    assert_eq!(f[1], f[3], "the child PID file names the command");
    assert!(!pidfile.exists() && !child_pidfile.exists());
}

#[test]
fn already_running_exits_1_naming_the_holder() {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    let mut first = pidward()
        .args([
            "run",
            "-p",
            pidfile.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "sleep 30; :",
            &s.tag,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    s.adopt(first.id());
    let holder = read_pid(&pidfile);
    assert_eq!(holder, first.id());
    let (out, took) = run(&["-p", pidfile.to_str().unwrap(), "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("already running as PID {holder}")),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(1));
    let (out, _) = run(&["-p", pidfile.to_str().unwrap(), "--oknodo", "--", "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The holder's file is untouched.
    assert_eq!(read_pid(&pidfile), holder);
    // TERM is forwarded: the command and then pidward exit, and the file goes.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(holder as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(first.wait().unwrap().code(), Some(143));
    assert!(!pidfile.exists());
}

#[test]
fn environment_options() {
    let s = Scratch::new();
    let env_file = s.path("env");
    std::fs::write(
        &env_file,
        "# comment\n\nFROM_FILE=one\nexport QUOTED=\"two words\"\nOVERRIDDEN=file\n",
    )
    .unwrap();
    let (out, _) = run(&[
        "--clear-env",
        "--env-file",
        env_file.to_str().unwrap(),
        "-e",
        "OVERRIDDEN=flag",
        "--env",
        "EMPTY=",
        "--",
        "/usr/bin/env",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "EMPTY=",
            "FROM_FILE=one",
            "OVERRIDDEN=flag",
            "QUOTED=two words"
        ]
    );

    // Without --clear-env the command inherits pidward's environment.
    let out = pidward_run(&["-e", "ADDED=1", "--", "sh", "-c", "echo $INHERITED $ADDED"])
        .env("INHERITED", "yes")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "yes 1\n");

    let bad = s.path("bad-env");
    std::fs::write(&bad, "GOOD=1\nthis line is wrong\n").unwrap();
    let (out, _) = run(&["--env-file", bad.to_str().unwrap(), "--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains(&format!("{}:2:", bad.display())),
        "{}",
        stderr(&out)
    );
}

/// The environment left as it is reaches the command byte for byte, in its order (the
/// supervisor hands over its own `environ`, with no copy), for the supervised command and
/// for `--exec`; a change still makes a copy with the change in it.
#[test]
fn an_unchanged_environment_reaches_the_command_exactly() {
    use std::os::unix::ffi::OsStrExt;
    let vars: [(&str, &[u8]); 5] = [
        ("PATH", b"/usr/bin:/bin"),
        ("EMPTY", b""),
        ("WITH_EQUALS", b"a=b=c"),
        ("NOT_UTF8", b"\xff\xfe"),
        ("SPACES", b" two  words "),
    ];
    // What env(1) prints when it is given the same environment directly.
    let mut direct = Command::new("/usr/bin/env");
    direct.env_clear();
    for (k, v) in &vars {
        direct.env(k, std::ffi::OsStr::from_bytes(v));
    }
    let expected = direct.output().unwrap().stdout;
    for (k, v) in &vars {
        let line = [k.as_bytes(), b"=", v, b"\n"].concat();
        assert!(
            expected.windows(line.len()).any(|w| w == line),
            "env(1) itself lacks {k}"
        );
    }
    for mode in [&["-l", "none"][..], &["-l", "none", "--exec"][..]] {
        let mut cmd = pidward_run(&[mode, &["--", "/usr/bin/env"]].concat());
        cmd.env_clear();
        for (k, v) in &vars {
            cmd.env(k, std::ffi::OsStr::from_bytes(v));
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{mode:?}: {}", stderr(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&expected),
            "{mode:?}"
        );
        assert_eq!(out.stdout, expected, "{mode:?}");
    }
    let out = pidward_run(&["-l", "none", "-e", "SPACES=none", "--", "/usr/bin/env"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("SPACES", " two ")
        .output()
        .unwrap();
    let text = stdout(&out);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["PATH=/usr/bin:/bin", "SPACES=none"]);
}

#[test]
fn output_files_are_appended() {
    let s = Scratch::new();
    let log = s.path("both.log");
    std::fs::write(&log, "before\n").unwrap();
    let (out, _) = run(&[
        "-l",
        "none",
        "-o",
        log.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "before\nout\nerr\n");

    let (o, e) = (s.path("o.log"), s.path("e.log"));
    let (out, _) = run(&[
        "--stdout",
        o.to_str().unwrap(),
        "--stderr",
        e.to_str().unwrap(),
        "--output-mode",
        "600",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&o).unwrap(), "out\n");
    assert_eq!(std::fs::read_to_string(&e).unwrap(), "err\n");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&o).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn the_command_starts_with_a_clean_slate() {
    // pidward itself starts with INT and HUP ignored and an extra open descriptor 7, and
    // blocks the signals it forwards; the command must see none of it.
    let script = r#"
        exec 7</etc/hostname
        trap '' INT HUP
        exec "$PIDWARD" run -- sh -c 'grep -E "^Sig(Blk|Ign)" /proc/self/status; ls /proc/self/fd | tr "\n" " "'
    "#;
    let out = Command::new("sh")
        .args(["-c", script])
        .env("PIDWARD", exe())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mask = |key: &str| {
        let line = text.lines().find(|l| l.starts_with(key)).unwrap();
        u64::from_str_radix(line[key.len()..].trim(), 16).unwrap()
    };
    assert_eq!(mask("SigBlk:"), 0, "{text}");
    // Signals 32 and 33 are glibc's own (below SIGRTMIN): its posix_spawn(3), which started
    // this test's shell, leaves them ignored, and they are not application signals.
    let glibc_internal = (1u64 << 31) | (1u64 << 32);
    assert_eq!(mask("SigIgn:") & !glibc_internal, 0, "{text}");
    // 0-2, plus the directory ls itself opened to list /proc/self/fd.
    let fds = text.lines().last().unwrap().trim();
    assert_eq!(fds, "0 1 2 3", "{text}");
}

#[test]
fn umask_and_rlimit_apply_to_the_command() {
    let (out, _) = run(&[
        "--umask",
        "027",
        "--rlimit",
        "nofile=64",
        "--rlimit",
        "core=0:unlimited",
        "--",
        "sh",
        "-c",
        r#"grep Umask /proc/self/status; grep -E "Max (open files|core)" /proc/self/limits"#,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Umask:\t0027"), "{text}");
    let files = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        files.split_whitespace().collect::<Vec<_>>()[3..5],
        ["64", "64"]
    );
    let core = text.lines().find(|l| l.starts_with("Max core")).unwrap();
    assert_eq!(
        core.split_whitespace().collect::<Vec<_>>()[4..6],
        ["0", "unlimited"]
    );
}
