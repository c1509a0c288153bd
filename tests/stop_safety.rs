//! `pidward stop`'s safety rules: who may have written the PID file (start-stop-daemon's and
//! systemd's rules, and the owner of the process itself), the PIDs never signalled (init,
//! pidward, its caller), and what names no process at all (stale, not invalid).

#![cfg(feature = "test-helpers")]

mod support;
use support::guards::*;
use support::{alive, exe, pidward};

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const SERVICE_UID: u32 = 101;

fn stop(args: &[&str], pidfile: &Path) -> Output {
    pidward()
        .arg("stop")
        .args(args)
        .arg(pidfile)
        .output()
        .unwrap()
}

fn status(pidfile: &Path) -> Output {
    pidward().arg("status").arg(pidfile).output().unwrap()
}

fn err(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `sleep 300` running as uid/gid `SERVICE_UID` (as postgres runs as postgres).
fn service_as_other_user() -> Proc {
    let id = SERVICE_UID.to_string();
    Proc(
        Command::new("setpriv")
            .args([
                "--reuid",
                &id,
                "--regid",
                &id,
                "--clear-groups",
                "sleep",
                "300",
            ])
            .stdin(Stdio::null())
            .spawn()
            .expect("setpriv (util-linux) runs"),
    )
}

/// A PID file for `proc`, owned by `owner`, written a moment after the process started.
fn pid_file_for(dir: &Path, proc: &Proc, owner: u32) -> std::path::PathBuf {
    // The process must be older than the file (a younger one would be a reused PID).
    std::thread::sleep(std::time::Duration::from_millis(100));
    let f = dir.join("postmaster.pid");
    std::fs::write(&f, format!("{}\n", proc.pid())).unwrap();
    std::os::unix::fs::chown(&f, Some(owner), Some(owner)).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    f
}

#[test]
fn a_file_owned_by_the_owner_of_the_process_it_names_is_trusted() {
    let dir = tempdir();
    let mut svc = service_as_other_user();
    let f = pid_file_for(dir.path(), &svc, SERVICE_UID);
    let out = stop(&[], &f);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    assert!(svc.0.wait().is_ok());
    assert!(!alive(svc.pid()));
}

#[test]
fn a_file_owned_by_a_third_user_is_refused() {
    let dir = tempdir();
    let svc = service_as_other_user();
    let f = pid_file_for(dir.path(), &svc, SERVICE_UID + 1);
    let out = stop(&[], &f);
    assert_eq!(out.status.code(), Some(4), "{}", err(&out));
    let e = err(&out);
    assert!(
        e.contains("owned by another user (uid 102)") && e.contains("(uid 101)"),
        "{e}"
    );
    assert!(alive(svc.pid()));
}

#[test]
fn a_file_writable_by_a_foreign_group_is_refused() {
    let dir = tempdir();
    let svc = service_as_other_user();
    let f = pid_file_for(dir.path(), &svc, SERVICE_UID);
    std::os::unix::fs::chown(&f, None, Some(4242)).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o660)).unwrap();
    let out = stop(&[], &f);
    assert_eq!(out.status.code(), Some(4), "{}", err(&out));
    assert!(
        err(&out).contains("writable by group 4242"),
        "{}",
        err(&out)
    );
    assert!(alive(svc.pid()));
}

#[test]
fn a_directory_others_may_write_is_refused_unless_sticky() {
    let dir = tempdir();
    let svc = service_as_other_user();
    let f = pid_file_for(dir.path(), &svc, SERVICE_UID);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = stop(&[], &f);
    assert_eq!(out.status.code(), Some(4), "{}", err(&out));
    assert!(
        err(&out).contains("directory is writable by others and has no sticky bit"),
        "{}",
        err(&out)
    );
    assert!(alive(svc.pid()));
    // A directory owned by a third user is refused too.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(dir.path(), Some(4242), None).unwrap();
    let out = stop(&[], &f);
    assert_eq!(out.status.code(), Some(4), "{}", err(&out));
    assert!(
        err(&out).contains("directory is owned by another user (uid 4242)"),
        "{}",
        err(&out)
    );
    // /tmp-like (sticky, root's): nobody can replace another user's file there.
    std::os::unix::fs::chown(dir.path(), Some(0), None).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let out = stop(&[], &f);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let mut svc = svc;
    svc.0.wait().unwrap();
}

#[test]
fn pid_1_is_never_signalled() {
    let dir = tempdir();
    let f = dir.path().join("init.pid");
    std::fs::write(&f, "1\n").unwrap();
    let out = stop(&[], &f);
    assert_eq!(out.status.code(), Some(4), "{}", err(&out));
    assert!(err(&out).contains("PID 1 (init)"), "{}", err(&out));
    assert_eq!(stop(&["-s", "HUP"], &f).status.code(), Some(4));
}

#[test]
fn stop_never_signals_itself_or_its_caller() {
    let dir = tempdir();
    let f = dir.path().join("self.pid");
    // The shell writes its PID, then becomes pidward (same PID): the file names pidward.
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"echo $$ > "$F"; sleep 0.1; exec "$P" stop "$F""#)
        .env("F", &f)
        .env("P", exe())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", err(&out));
    assert!(err(&out).contains("this very process"), "{}", err(&out));
    // The shell writes its PID and runs pidward: the file names pidward's parent.
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"echo $$ > "$F"; sleep 0.1; "$P" stop "$F"; echo "code=$?""#)
        .env("F", &f)
        .env("P", exe())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("code=4"), "{text} {}", err(&out));
    assert!(
        err(&out).contains("parent of this process"),
        "{}",
        err(&out)
    );
}

#[test]
fn an_empty_unlocked_file_or_a_pid_above_pid_max_is_stale_not_invalid() {
    let dir = tempdir();
    let f = dir.path().join("x.pid");
    for content in ["", "\n", "  \n", "99999999\n", "99999999999999\n"] {
        std::fs::write(&f, content).unwrap();
        let st = status(&f);
        assert_eq!(st.status.code(), Some(1), "{content:?}: {:?}", st);
        let text = String::from_utf8_lossy(&st.stdout);
        assert!(text.contains("stale"), "{content:?}: {text}");
        assert_eq!(stop(&[], &f).status.code(), Some(0), "{content:?}");
        assert_eq!(
            stop(&["--strict"], &f).status.code(),
            Some(7),
            "{content:?}"
        );
        assert!(f.exists());
        assert_eq!(stop(&["--remove-pidfile"], &f).status.code(), Some(0));
        assert!(
            !f.exists(),
            "{content:?}: a stale file is removed on request"
        );
        // And a new holder takes it over.
        std::fs::write(&f, content).unwrap();
        let run = pidward()
            .args(["run", "-p"])
            .arg(&f)
            .args(["--", "true"])
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(0), "{content:?}: {}", err(&run));
    }
    // Text that is not a PID stays invalid (unknown, 4).
    for content in ["0\n", "abc\n", "-5\n", "0x10\n"] {
        std::fs::write(&f, content).unwrap();
        assert_eq!(status(&f).status.code(), Some(4), "{content:?}");
        assert_eq!(stop(&[], &f).status.code(), Some(4), "{content:?}");
    }
}
