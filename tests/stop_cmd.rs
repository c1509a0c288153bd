//! `pidward stop`, black-box: schedules, stopped and zombie targets, refusals, exit codes.

#![cfg(feature = "test-helpers")]

mod support;
use support::guards::*;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Start `sh -c SCRIPT` where the script writes the PID file `F` itself; wait for the file.
fn service(script: &str, pidfile: &Path) -> Proc {
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("F", pidfile)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        pidward::pidfile::read(pidfile).is_ok()
    }));
    // Let the file's mtime fall clearly before anything that could reuse the PID.
    std::thread::sleep(Duration::from_millis(50));
    Proc(child)
}

fn stop(args: &[&str], pidfile: &Path) -> (i32, String, String, Duration) {
    let t = Instant::now();
    let out = pidward()
        .arg("stop")
        .args(args)
        .arg(pidfile)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        t.elapsed(),
    )
}

#[test]
fn a_process_that_ignores_term_is_killed_on_schedule() {
    let dir = tempdir();
    let f = dir.path().join("svc.pid");
    let mut svc = service("trap '' TERM; echo $$ > \"$F\"; exec sleep 300", &f);
    let (code, _, err, took) = stop(&["-R", "TERM/0.5/KILL/5"], &f);
    assert_eq!(code, 0, "{err}");
    assert!(
        took >= Duration::from_millis(450),
        "KILL came before the wait: {took:?}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert_eq!(svc.0.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn still_alive_after_the_whole_schedule_exits_1() {
    let dir = tempdir();
    let f = dir.path().join("svc.pid");
    let svc = service("trap '' TERM; echo $$ > \"$F\"; exec sleep 300", &f);
    let (code, _, err, _) = stop(&["-R", "TERM/0.3"], &f);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("still running"), "{err}");
    assert!(alive(svc.pid()));
}

#[test]
fn a_stopped_process_still_stops() {
    let dir = tempdir();
    let f = dir.path().join("svc.pid");
    let mut svc = service("echo $$ > \"$F\"; exec sleep 300", &f);
    // SAFETY: a plain system call with no memory-safety preconditions.
    unsafe { libc::kill(svc.pid() as i32, libc::SIGSTOP) };
    let (code, _, err, took) = stop(&[], &f);
    assert_eq!(code, 0, "{err}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(svc.0.wait().unwrap().signal(), Some(libc::SIGTERM));
}

#[test]
fn a_process_that_becomes_a_zombie_counts_as_gone_at_once() {
    let dir = tempdir();
    let f = dir.path().join("svc.pid");
    // The target's parent becomes `sleep 1000`, which never reaps it.
    let _parent = service("sleep 300 & echo $! > \"$F\"; exec sleep 1000", &f);
    let pid = pidward::pidfile::read(&f).unwrap();
    let (code, _, err, took) = stop(&[], &f);
    assert_eq!(code, 0, "{err}");
    assert!(
        took < Duration::from_secs(5),
        "waited for a zombie: {took:?}"
    );
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    assert!(state.contains(") Z "), "{state}");
    // A file naming a zombie is stale: nothing is sent, at once.
    let (code, _, err, took) = stop(&["--strict"], &f);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("zombie"), "{err}");
    assert!(took < Duration::from_secs(2));
}

#[test]
fn test_mode_sends_nothing() {
    let dir = tempdir();
    let f = dir.path().join("svc.pid");
    let svc = service("echo $$ > \"$F\"; exec sleep 300", &f);
    let (code, out, _, _) = stop(&["-t", "-R", "HUP/3/KILL/1"], &f);
    assert_eq!(code, 0);
    assert!(
        out.contains(&svc.pid().to_string()) && out.contains("HUP/3/KILL/1"),
        "{out}"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(alive(svc.pid()));
}

#[test]
fn a_signal_without_schedule_is_sent_once_and_not_waited_for() {
    let dir = tempdir();
    let f = dir.path().join("svc.pid");
    let mark = dir.path().join("got-hup");
    let svc = service(
        &format!(
            "trap 'touch {}' HUP; echo $$ > \"$F\"; while :; do sleep 0.05; done",
            mark.display()
        ),
        &f,
    );
    let (code, _, err, _) = stop(&["-s", "SIGHUP"], &f);
    assert_eq!(code, 0, "{err}");
    assert!(wait_until(Duration::from_secs(5), || mark.exists()));
    assert!(alive(svc.pid()));
}

#[test]
fn untrusted_files_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let f = dir.path().join("svc.pid");
    let svc = service("echo $$ > \"$F\"; exec sleep 300", &f);
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, _, err, _) = stop(&[], &f);
    assert_eq!(code, 4);
    assert!(err.contains("world-writable"), "{err}");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(&f, Some(65534), Some(65534)).unwrap();
    let (code, _, err, _) = stop(&[], &f);
    assert_eq!(code, 4);
    assert!(err.contains("another user"), "{err}");
    assert!(alive(svc.pid()));
}

#[test]
fn not_running_is_0_or_7_with_strict_and_remove_pidfile_cleans_up() {
    let dir = tempdir();
    let f = dir.path().join("svc.pid");
    assert_eq!(stop(&[], &f).0, 0);
    assert_eq!(stop(&["--strict"], &f).0, 7);
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    std::fs::write(&f, format!("{}\n", gone.id())).unwrap();
    assert_eq!(stop(&["--strict"], &f).0, 7);
    assert!(f.exists(), "stale file kept without --remove-pidfile");
    assert_eq!(stop(&["--remove-pidfile"], &f).0, 0);
    assert!(!f.exists());
}

#[test]
fn a_locked_pidward_file_is_stopped_through_its_holder() {
    let dir = tempdir();
    let f = dir.path().join("held.pid");
    let mut holder = guard("hold", &f, &[]);
    let (code, _, err, took) = stop(&["-v", "--remove-pidfile"], &f);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("stopped PID {}", holder.pid())),
        "{err}"
    );
    assert!(took < Duration::from_secs(5));
    assert_eq!(holder.0.wait().unwrap().signal(), Some(libc::SIGTERM));
    assert!(!f.exists());
}

#[test]
fn eperm_means_alive_and_not_permitted() {
    // The target is a root-owned process in a session of its own: kill(2) lets any
    // process send SIGCONT within its own session, whatever the uids, so a target that
    // shares the test's session (PID 1 in a container can) would not refuse anyone.
    let dir = tempdir();
    let f = dir.path().join("root-owned.pid");
    let mut target = Proc(
        Command::new("setsid")
            .args(["sleep", "300"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = target.pid();
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    }));
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(&f, format!("{pid}\n")).unwrap();
    let as_nobody = |args: &[&str], file: &Path| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_pidward"))
            .args(args)
            .arg(file)
            .output()
            .unwrap()
    };
    // The case operators meet most: a file naming init, read by an unprivileged user.
    let init = dir.path().join("init.pid");
    std::fs::write(&init, "1\n").unwrap();
    for (file, pid) in [(init.as_path(), 1), (f.as_path(), pid)] {
        let out = as_nobody(&["status"], file);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert!(
            stdout.contains(&format!("running as PID {pid}")),
            "{stdout}"
        );
    }
    let out = as_nobody(&["stop", "-R", "TERM/1/KILL/1"], &f);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("not permitted"), "{err}");
    assert!(
        target.0.try_wait().unwrap().is_none(),
        "the target was signalled"
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), format!("{pid}\n"));
}

#[test]
fn a_lock_outliving_its_writer_is_not_signalled() {
    let dir = tempdir();
    let f = dir.path().join("orphan.pid");
    let out = Command::new(guard_exe())
        .args(["orphan", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let heir: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let _heir = KillOnDrop(heir);
    // The writer is dead; its child holds the lock: the service is running.
    let st = pidward().arg("status").arg(&f).output().unwrap();
    assert_eq!(
        st.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&st.stdout)
    );
    let (code, _, err, _) = stop(&[], &f);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("still locked"), "{err}");
    assert!(alive(heir), "nothing may be signalled");
}

/// Kills a process that is not our child (so cannot be a `Child`) when the test ends.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: a plain system call with no memory-safety preconditions.
        unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
    }
}

#[test]
fn a_file_unreadable_at_the_identity_recheck_means_unknown_not_stopped() {
    // `stop` reads the file, pins the process with a pidfd, then reads the file again to
    // confirm that it still names that process. If the second read fails, nothing can be
    // said: exit 4, signal nothing; never "nothing to stop" (0).
    let dir = tempdir();
    let f = dir.path().join("svc.pid");
    let holder = guard("hold", &f, &[]);
    // A dry run takes the same path up to the re-check: its second open of the file is it.
    let dry = [std::ffi::OsStr::new("stop"), "-t".as_ref(), f.as_os_str()];
    let when = openat_index(&dry, &f, 2);
    let out = Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "-e"])
        .arg(format!("inject=openat:error=EACCES:when={when}"))
        .arg(env!("CARGO_BIN_EXE_pidward"))
        .arg("stop")
        .arg(&f)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("cannot tell") && err.contains("Permission denied"),
        "{err}"
    );
    assert!(alive(holder.pid()), "nothing may be signalled");
    assert_eq!(pidward::pidfile::read(&f).unwrap(), holder.pid());
}

#[test]
fn an_unwritable_stderr_or_stdout_changes_nothing_but_the_message() {
    let dir = tempdir();
    let f = dir.path().join("svc.pid");
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    // "Nothing to stop" is said on stderr, which is full: still exit 0 (7 with --strict).
    for (args, code) in [(&[][..], 0), (&["--strict"][..], 7)] {
        let out = pidward()
            .arg("stop")
            .args(args)
            .arg(&f)
            .stderr(full())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code));
    }
    // A dry run whose report cannot be written says so, and exits 4.
    let holder = guard("hold", &f, &[]);
    let out = pidward()
        .args(["stop", "-t"])
        .arg(&f)
        .stdout(full())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("cannot write to standard output"), "{err}");
    // And a real stop with a full stderr stops.
    let out = pidward()
        .args(["stop", "-v"])
        .arg(&f)
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!alive(holder.pid()) || wait_until(Duration::from_secs(5), || !alive(holder.pid())));
}
