//! LockFile through the public API, with other owners in separate processes.

#![cfg(feature = "test-helpers")]

mod support;
use support::guards::*;

use std::time::{Duration, SystemTime};

use pidward::lockfile::{self, Error, LockFile, Malformed};

fn host() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

#[test]
fn records_pid_time_and_host() {
    let dir = tempdir();
    let path = dir.path().join("a.lock");
    let before = SystemTime::now() - Duration::from_millis(2);
    let lock = LockFile::acquire(&path).unwrap();
    let owner = lockfile::read(&path).unwrap().unwrap();
    assert_eq!(owner.pid, std::process::id());
    assert_eq!(owner.host, host());
    assert!(owner.time >= before && owner.time <= SystemTime::now());
    assert!(lockfile::is_locked(&path).unwrap());
    assert_eq!(lock.path(), path);
    // Re-entrant: the owner acquires again, and the guards share the lock.
    let second = LockFile::options().acquire(&path).unwrap();
    // The first line is a PID: PID-file readers read lock files.
    assert_eq!(pidward::pidfile::read(&path).unwrap(), std::process::id());
    lock.release().unwrap();
    assert!(path.exists(), "the second guard still holds it");
    assert!(lockfile::is_locked(&path).unwrap());
    second.release().unwrap();
    assert!(!path.exists());
    assert!(!lockfile::is_locked(&path).unwrap());
    assert_eq!(lockfile::read(&path).unwrap(), None);
    // Dropping releases too.
    drop(LockFile::acquire(&path).unwrap());
    assert!(!path.exists());
}

#[test]
fn another_process_holds_it() {
    let dir = tempdir();
    let path = dir.path().join("b.lock");
    let holder = guard("lock", &path, &[]);
    match LockFile::options().replace_stale(true).acquire(&path) {
        Err(e @ Error::Held { stale: false, .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(&format!("PID {}", holder.pid())), "{msg}");
            assert!(
                msg.contains(&host()) && msg.contains(path.to_str().unwrap()),
                "{msg}"
            );
            assert!(msg.contains(" since 20"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    assert!(lockfile::is_locked(&path).unwrap());
    assert!(
        path.exists(),
        "a failed acquirer leaves the holder's file alone"
    );
    // Breaking it is its own act: the file goes, the next acquirer gets a new one.
    let broken = lockfile::break_lock(&path).unwrap().unwrap();
    assert_eq!(broken.pid, holder.pid());
    assert!(!path.exists());
    let lock = LockFile::acquire(&path).unwrap();
    assert_eq!(
        lockfile::read(&path).unwrap().unwrap().pid,
        std::process::id()
    );
    // The old holder's exit does not touch the new file.
    drop(holder);
    assert_eq!(
        lockfile::read(&path).unwrap().unwrap().pid,
        std::process::id()
    );
    drop(lock);
}

#[test]
fn stale_records_need_replace_stale_and_other_hosts_are_never_stale() {
    let dir = tempdir();
    let path = dir.path().join("c.lock");
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let record =
        |pid: u32, host: &str| format!("{pid}\nhost={host}\ntime=2026-01-02T03:04:05.000Z\n");
    std::fs::write(&path, record(gone.id(), &host())).unwrap();
    assert!(!lockfile::is_locked(&path).unwrap());
    match LockFile::acquire(&path) {
        Err(e @ Error::Held { stale: true, .. }) => assert!(e.to_string().contains("stale")),
        other => panic!("{other:?}"),
    }
    let lock = LockFile::options()
        .replace_stale(true)
        .acquire(&path)
        .unwrap();
    lock.release().unwrap();

    std::fs::write(&path, record(gone.id(), "elsewhere.example")).unwrap();
    let before = snapshot(&path);
    assert!(
        lockfile::is_locked(&path).unwrap(),
        "another host's record cannot be judged from here"
    );
    assert!(matches!(
        LockFile::options().replace_stale(true).acquire(&path),
        Err(Error::Held { stale: false, .. })
    ));
    assert_eq!(snapshot(&path), before);
    assert_eq!(
        lockfile::break_lock(&path).unwrap().unwrap().host,
        "elsewhere.example"
    );
    let _lock = LockFile::acquire(&path).unwrap();
    assert_eq!(lockfile::read(&path).unwrap().unwrap().host, host());
}

#[test]
fn malformed_files_are_reported_and_kept() {
    let dir = tempdir();
    let path = dir.path().join("d.lock");
    for (bad, problem) in [
        ("hello\n", None),
        ("123\nhost=x\n", Some(Malformed::NoTime)),
        (
            "123\nhost=x\ntime=yesterday\n",
            Some(Malformed::BadTime("yesterday".into())),
        ),
    ] {
        std::fs::write(&path, bad).unwrap();
        let before = snapshot(&path);
        match lockfile::read(&path) {
            Err(Error::Malformed { problem: p, .. }) => {
                assert!(
                    problem.as_ref().is_none_or(|want| *want == p),
                    "{bad:?}: {p:?}"
                )
            }
            other => panic!("{bad:?}: {other:?}"),
        }
        let err = LockFile::acquire(&path).unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "{bad:?}: {err:?}");
        assert!(err.to_string().contains(path.to_str().unwrap()));
        assert_eq!(snapshot(&path), before);
    }
    assert_eq!(lockfile::break_lock(&path).unwrap(), None);
    assert!(!path.exists(), "breaking removes whatever record is there");
    assert_eq!(
        lockfile::break_lock(&path).unwrap(),
        None,
        "nothing to break"
    );
}

#[test]
fn not_a_regular_file_is_left_alone() {
    let dir = tempdir();
    let path = dir.path().join("e.lock");
    std::fs::create_dir(&path).unwrap();
    for err in [
        LockFile::acquire(&path).unwrap_err(),
        lockfile::read(&path).unwrap_err(),
        lockfile::break_lock(&path).unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                Error::NotRegular {
                    what: "a directory",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    assert!(path.is_dir());
}
