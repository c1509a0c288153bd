//! `pidward run` follows the real main process: `MAINPID=` from the command, or the PID file
//! of a daemon that forks by itself (`--follow-pidfile`). The service lives while that
//! process lives, whatever the command that started it did.

mod support;

use std::path::Path;
use std::time::Duration;

use support::run::*;

/// `pidward status PATH` and `pidward stop PATH`: their exit codes.
fn status(pidfile: &Path) -> Option<i32> {
    pidward()
        .arg("status")
        .arg(pidfile)
        .output()
        .unwrap()
        .status
        .code()
}

fn stop(pidfile: &Path) -> Option<i32> {
    pidward()
        .arg("stop")
        .arg(pidfile)
        .output()
        .unwrap()
        .status
        .code()
}

#[test]
fn mainpid_from_the_command_is_followed_when_the_command_exits() {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    let child_pidfile = s.path("child.pid");
    // The command starts the real service, names it in MAINPID= with READY=1, and exits 0.
    let script = format!(
        r#"perl -e 'sleep 30' {} & "$PIDWARD" notify --ready MAINPID=$!; exit 0"#,
        s.tag
    );
    let (out, _) = run(&[
        "-d",
        "--ready",
        "notify",
        "-p",
        pidfile.to_str().unwrap(),
        "--child-pidfile",
        child_pidfile.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sup = read_pid(&pidfile);
    s.adopt(sup);
    let service = read_pid(&child_pidfile);
    s.adopt(service);
    assert!(
        s.stray().contains(&service),
        "{service} is not the tagged service"
    );
    // The command has exited by now; the service has not, and neither has its supervisor.
    std::thread::sleep(Duration::from_millis(500));
    assert!(alive(sup), "the supervisor left with the command");
    assert_eq!(status(&pidfile), Some(0));
    assert_eq!(read_pid(&child_pidfile), service);
    // Stopping the supervisor stops the service it follows.
    assert_eq!(stop(&pidfile), Some(0));
    assert!(!alive(service));
    assert!(!pidfile.exists() && !child_pidfile.exists());

    // When the followed process exits, so does the supervisor, with its status.
    let script = format!(
        r#"perl -e 'select(undef, undef, undef, 0.5); exit 6' {} & "$PIDWARD" notify --ready MAINPID=$!; exit 0"#,
        s.tag
    );
    let (out, took) = run(&["--ready", "notify", "--", "sh", "-c", &script]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(took >= Duration::from_millis(400), "{took:?}");
}

#[test]
fn a_daemon_that_forks_by_itself_is_supervised_through_its_pid_file() {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    let daemon_pidfile = s.path("daemon.pid");
    // start-stop-daemon --background: the parent exits 0 at once, the detached child writes
    // the PID file and becomes the service.
    let (out, _) = run(&[
        "-d",
        "-p",
        pidfile.to_str().unwrap(),
        "--follow-pidfile",
        daemon_pidfile.to_str().unwrap(),
        "--ready-timeout",
        "10",
        "--",
        "start-stop-daemon",
        "--start",
        "--background",
        "--make-pidfile",
        "--pidfile",
        daemon_pidfile.to_str().unwrap(),
        "--exec",
        "/usr/bin/perl",
        "--",
        "-e",
        "sleep 30",
        &s.tag,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sup = read_pid(&pidfile);
    s.adopt(sup);
    let service = read_pid(&daemon_pidfile);
    s.adopt(service);
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(sup), "the supervisor left with the forking command");
    assert_eq!(status(&pidfile), Some(0));
    assert_eq!(stop(&pidfile), Some(0));
    assert!(
        !alive(service),
        "the forked daemon outlived its supervisor's stop"
    );

    // A daemon that never writes its PID file is a failed start, stopped at the timeout.
    let missing = s.path("never.pid");
    let (out, _) = run(&[
        "--follow-pidfile",
        missing.to_str().unwrap(),
        "--ready-timeout",
        "0.5",
        "--",
        "sh",
        "-c",
        &format!("(perl -e 'sleep 30' {} &); exit 0", s.tag),
    ]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(
        wait_until(Duration::from_secs(2), || s.stray().is_empty()),
        "{:?}",
        s.stray()
    );
}
