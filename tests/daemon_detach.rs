//! The `Daemon` builder, exercised through `examples/daemon_demo.rs` in separate processes:
//! what a detached process looks like, how failures reach the launcher, and how the PID file
//! follows the process.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::run::*;

/// Runs the demo with `args` (plus the scratch tag), returning its output and how long the
/// launcher took.
fn demo(scratch: &Scratch, args: &[&str]) -> (Output, Duration) {
    let program = example("daemon_demo");
    let start = Instant::now();
    let out = Command::new(program)
        .args(args)
        .args(["--tag", &scratch.tag])
        .output()
        .unwrap();
    (out, start.elapsed())
}

#[test]
fn detached_process_is_a_proper_daemon() {
    let s = Scratch::new();
    let pidfile = s.path("demo.pid");
    let (out, _) = demo(&s, &["--pidfile", pidfile.to_str().unwrap()]);
    assert!(out.status.success(), "launcher failed: {}", stderr(&out));
    // The PID file exists and names the final process as soon as the launcher returned.
    let text = std::fs::read_to_string(&pidfile).unwrap();
    let pid: u32 = text.trim().parse().unwrap();
    assert_eq!(text, format!("{pid}\n"));
    s.adopt(pid);
    let st = stat(pid).expect("the detached process is alive");

    // New session, not its leader, no controlling terminal.
    let my_session = stat(std::process::id()).unwrap().session;
    assert_ne!(st.session, my_session, "still in the caller's session");
    assert_ne!(st.session, pid, "the detached process leads its session");
    assert_eq!(st.tty_nr, 0, "it has a controlling terminal");
    // The session leader (the middle process) is gone, and so is the launcher (we waited
    // for it): the detached process was re-parented away from both.
    assert!(!alive(st.session), "the middle process is still there");
    assert_ne!(st.ppid, st.session);

    // Standard streams on /dev/null, and nothing open but them and the PID file's lock.
    let fds = fds(pid);
    for n in 0..3 {
        assert_eq!(fds[&n], Path::new("/dev/null"), "fd {n}");
    }
    let others: Vec<_> = fds.iter().filter(|(n, _)| **n > 2).collect();
    assert_eq!(others.len(), 1, "unexpected descriptors: {others:?}");
    assert_eq!(others[0].1, &pidfile);

    // The lock is held, by the detached process.
    match pidward::pidfile::status(&pidfile) {
        pidward::pidfile::Status::Running { pid: p, locked, .. } => {
            assert_eq!(p, pid);
            assert!(locked);
        }
        other => panic!("unexpected status {other:?}"),
    }
    // /proc/locks names the process that took the lock (the launcher, now gone); the holder
    // is whoever keeps that open file description: the detached process's descriptor shows
    // the lock, and the lock dies with it.
    let lock_fd = *others[0].0;
    let fdinfo = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{lock_fd}")).unwrap();
    assert!(
        fdinfo
            .lines()
            .any(|l| l.starts_with("lock:") && l.contains("FLOCK") && l.contains("WRITE")),
        "no flock on fd {lock_fd}: {fdinfo}"
    );
    let held = std::fs::File::open(&pidfile).unwrap();

    // Detaching defaults: umask 077, working directory /.
    assert_eq!(status_field(pid, "Umask").unwrap(), "0077");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        Path::new("/")
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(5), || !alive(pid)));
    assert!(
        wait_until(Duration::from_secs(2), || !pidward::flock::is_locked(&held)
            .unwrap()),
        "the lock outlived the detached process"
    );
}

#[test]
fn output_files_are_appended_with_the_given_mode() {
    let s = Scratch::new();
    let out_path = s.path("out.log");
    let err_path = s.path("err.log");
    std::fs::write(&err_path, "earlier line\n").unwrap();
    std::fs::set_permissions(&err_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pidfile = s.path("demo.pid");
    let (out, _) = demo(
        &s,
        &[
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--stdout",
            out_path.to_str().unwrap(),
            "--stderr",
            err_path.to_str().unwrap(),
            "--output-mode",
            "604",
            "--linger",
            "0",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The process exits at once and removes its PID file.
    assert!(wait_until(Duration::from_secs(5), || !pidfile.exists()));
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        stdout.starts_with("daemon_demo: running as PID"),
        "{stdout:?}"
    );
    let errors = std::fs::read_to_string(&err_path).unwrap();
    assert!(
        errors.starts_with("earlier line\ndaemon_demo: stderr of PID"),
        "not appended: {errors:?}"
    );
    // A created file gets exactly the mode asked for (the launcher's umask does not apply);
    // an existing file keeps its mode.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out_path), 0o604);
    assert_eq!(mode(&err_path), 0o600);
}

/// A failing step: the launcher fails fast, names the step and the OS error, removes the PID
/// file, and leaves no process behind.
fn assert_step_fails(args: &[&str], step: &str, error: &str) {
    let s = Scratch::new();
    let pidfile = s.path("demo.pid");
    let mut all = vec!["--pidfile", pidfile.to_str().unwrap()];
    all.extend_from_slice(args);
    let (out, took) = demo(&s, &all);
    let msg = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{msg}");
    assert!(msg.contains(step), "step {step:?} not named: {msg}");
    assert!(msg.contains(error), "error {error:?} not named: {msg}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(!pidfile.exists(), "the PID file was left behind");
    assert!(
        wait_until(Duration::from_secs(2), || s.stray().is_empty()),
        "stray processes: {:?}",
        s.stray()
    );
}

#[test]
fn missing_working_directory_fails_the_launcher() {
    assert_step_fails(
        &["--chdir", "/nonexistent/pidward"],
        "chdir /nonexistent/pidward",
        "No such file or directory",
    );
}

#[test]
fn missing_chroot_fails_the_launcher() {
    assert_step_fails(
        &["--chroot", "/nonexistent/pidward-root"],
        "chroot /nonexistent/pidward-root",
        "No such file or directory",
    );
}

#[test]
fn unknown_user_and_group_fail_before_forking() {
    assert_step_fails(
        &["--user", "pidward-no-such-user"],
        "user",
        "pidward-no-such-user",
    );
    assert_step_fails(
        &["--group", "pidward-no-such-group"],
        "user",
        "pidward-no-such-group",
    );
}

#[test]
fn unopenable_output_file_fails_the_launcher() {
    assert_step_fails(
        &["--stdout", "/nonexistent/dir/out.log"],
        "stdout /nonexistent/dir/out.log",
        "No such file or directory",
    );
}

#[test]
fn an_impossible_rlimit_fails_the_launcher() {
    // Beyond fs.nr_open even for root; beyond the hard limit for anyone else.
    assert_step_fails(
        &["--rlimit", "nofile=unlimited"],
        "rlimit nofile",
        "Operation not permitted",
    );
}

#[test]
fn a_daemon_killed_before_reporting_fails_the_launcher_promptly() {
    let s = Scratch::new();
    let pidfile = s.path("demo.pid");
    let (out, took) = demo(&s, &["--pidfile", pidfile.to_str().unwrap(), "--kill-self"]);
    let msg = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{msg}");
    assert!(
        msg.contains("was killed by signal KILL before it reported"),
        "{msg}"
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(!pidfile.exists());
    assert!(s.stray().is_empty(), "stray: {:?}", s.stray());
}

#[test]
fn the_launcher_waits_for_readiness() {
    let s = Scratch::new();
    let pidfile = s.path("demo.pid");
    let (out, took) = demo(
        &s,
        &[
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--ready-after-ms",
            "500",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        took >= Duration::from_millis(500),
        "returned before readiness: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let pid = read_pid(&pidfile);
    s.adopt(pid);
    assert!(alive(pid));
}

#[test]
fn a_reported_failure_reaches_the_launcher() {
    let s = Scratch::new();
    let pidfile = s.path("demo.pid");
    let (out, took) = demo(
        &s,
        &[
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--fail",
            "cannot bind port 80",
        ],
    );
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("cannot bind port 80"),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(1));
    assert!(wait_until(Duration::from_secs(2), || !pidfile.exists()));
}

#[test]
fn the_launcher_gives_up_after_its_report_timeout() {
    let s = Scratch::new();
    let pidfile = s.path("demo.pid");
    let (out, took) = demo(
        &s,
        &[
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--ready-after-ms",
            "5000",
            "--report-timeout-ms",
            "300",
        ],
    );
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did not report within"),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(2));
    // The process is still running and still owns its PID file.
    let pid = read_pid(&pidfile);
    s.adopt(pid);
    assert!(alive(pid));
}

#[test]
fn detaching_refuses_a_multithreaded_process() {
    let s = Scratch::new();
    let (out, _) = demo(&s, &["--spawn-thread"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("threads"), "{}", stderr(&out));
}

#[test]
fn inherited_descriptors_are_closed_unless_kept() {
    let s = Scratch::new();
    let kept = s.path("kept");
    let leaked = s.path("leaked");
    std::fs::write(&kept, "").unwrap();
    std::fs::write(&leaked, "").unwrap();
    let pidfile = s.path("demo.pid");
    let (out, _) = demo(
        &s,
        &[
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--keep-open",
            kept.to_str().unwrap(),
            "--leak-open",
            leaked.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = read_pid(&pidfile);
    s.adopt(pid);
    let targets: Vec<_> = fds(pid).into_values().collect();
    assert!(targets.contains(&kept), "{targets:?}");
    assert!(!targets.contains(&leaked), "{targets:?}");
}

#[test]
fn the_pid_file_goes_away_with_the_daemon() {
    let s = Scratch::new();
    let pidfile = s.path("demo.pid");
    let (out, _) = demo(
        &s,
        &["--pidfile", pidfile.to_str().unwrap(), "--linger", "0.3"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = read_pid(&pidfile);
    assert!(wait_until(Duration::from_secs(5), || !alive(pid)));
    assert!(wait_until(Duration::from_secs(1), || !pidfile.exists()));
}

#[test]
fn a_second_start_finds_the_first_running() {
    let s = Scratch::new();
    let pidfile = s.path("demo.pid");
    let (out, _) = demo(&s, &["--pidfile", pidfile.to_str().unwrap()]);
    assert!(out.status.success());
    let pid = read_pid(&pidfile);
    s.adopt(pid);
    let (out, _) = demo(&s, &["--pidfile", pidfile.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("already running as PID {pid}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(read_pid(&pidfile), pid);
}

#[test]
fn nodaemon_sets_up_in_the_foreground() {
    let s = Scratch::new();
    let pidfile = s.path("demo.pid");
    let out_path = s.path("out.log");
    let (out, _) = demo(
        &s,
        &[
            "--nodaemon",
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--umask",
            "027",
            "--stdout",
            out_path.to_str().unwrap(),
            "--linger",
            "0",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Same process: its own stderr is untouched, stdout went to the file.
    assert!(stderr(&out).contains("daemon_demo: stderr of PID"));
    assert!(out.stdout.is_empty());
    assert!(
        std::fs::read_to_string(&out_path)
            .unwrap()
            .contains("running as PID")
    );
    assert!(!pidfile.exists(), "removed at exit");
}

#[test]
fn a_long_failure_message_arrives_cut_but_readable() {
    let s = Scratch::new();
    let long = format!("cannot start: {}", "é".repeat(500));
    let (out, _) = demo(&s, &["--fail", &long]);
    assert_eq!(out.status.code(), Some(125));
    let msg = stderr(&out);
    let line = msg.lines().next().unwrap();
    assert!(line.contains("cannot start: éé"), "{line}");
    assert!(line.ends_with("é..."), "not marked as cut: {line}");
    assert!(!line.contains('\u{FFFD}'), "cut inside a character: {line}");
    // A status message is at most 256 bytes (one atomic pipe write).
    assert!(line.len() < 256 + 40, "{} bytes", line.len());
}
