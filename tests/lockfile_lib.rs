//! LockFile through the public API, with other owners in separate processes.

#![cfg(feature = "test-helpers")]

mod guards_common;
use guards_common::*;

use std::time::{Duration, SystemTime};

use pidward::lockfile::{Acquire, Error, LockFile};

fn host() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

#[test]
fn records_pid_time_and_host() {
    let dir = tempdir();
    let path = dir.path().join("a.lock");
    let before = SystemTime::now() - Duration::from_millis(2);
    let mut lock = LockFile::new(&path);
    lock.acquire(Acquire::default()).unwrap();
    let owner = lock.owner().unwrap().unwrap();
    assert_eq!(owner.pid, std::process::id());
    assert_eq!(owner.host, host());
    assert!(owner.time >= before && owner.time <= SystemTime::now());
    assert!(lock.is_locked().unwrap() && lock.owned_by_self());
    // Re-entrant: the owner acquires again, through this or another handle.
    lock.acquire(Acquire::default()).unwrap();
    let mut second = LockFile::new(&path);
    second.acquire(Acquire::default()).unwrap();
    assert!(second.owned_by_self());
    // The first line is a PID: PID-file readers read lock files.
    assert_eq!(pidward::pidfile::read(&path).unwrap(), std::process::id());
    lock.release(false).unwrap();
    assert!(path.exists(), "the second handle still holds it");
    assert!(lock.is_locked().unwrap());
    second.release(false).unwrap();
    assert!(!path.exists());
    assert!(!lock.is_locked().unwrap());
    assert_eq!(LockFile::read(&path).unwrap(), None);
}

#[test]
fn another_process_holds_it() {
    let dir = tempdir();
    let path = dir.path().join("b.lock");
    let holder = guard("lock", &path, &[]);
    let mut lock = LockFile::new(&path);
    match lock.acquire(Acquire {
        replace_stale: true,
        force: false,
    }) {
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
    assert!(lock.is_locked().unwrap());
    assert!(!lock.owned_by_self());
    assert!(matches!(
        lock.release(false),
        Err(Error::NotOwner { owner: Some(_), .. })
    ));
    assert!(path.exists());
    // force takes it anyway.
    lock.acquire(Acquire {
        replace_stale: false,
        force: true,
    })
    .unwrap();
    assert_eq!(
        LockFile::read(&path).unwrap().unwrap().pid,
        std::process::id()
    );
    drop(holder);
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
    let mut lock = LockFile::new(&path);
    assert!(!lock.is_locked().unwrap());
    match lock.acquire(Acquire::default()) {
        Err(e @ Error::Held { stale: true, .. }) => assert!(e.to_string().contains("stale")),
        other => panic!("{other:?}"),
    }
    lock.acquire(Acquire {
        replace_stale: true,
        force: false,
    })
    .unwrap();
    lock.release(false).unwrap();

    std::fs::write(&path, record(gone.id(), "elsewhere.example")).unwrap();
    let before = snapshot(&path);
    assert!(
        lock.is_locked().unwrap(),
        "another host's record cannot be judged from here"
    );
    assert!(matches!(
        lock.acquire(Acquire {
            replace_stale: true,
            force: false
        }),
        Err(Error::Held { stale: false, .. })
    ));
    assert_eq!(snapshot(&path), before);
    lock.acquire(Acquire {
        replace_stale: false,
        force: true,
    })
    .unwrap();
    assert_eq!(LockFile::read(&path).unwrap().unwrap().host, host());
}

#[test]
fn malformed_files_are_reported_and_kept() {
    let dir = tempdir();
    let path = dir.path().join("d.lock");
    for bad in ["hello\n", "123\nhost=x\n", "123\nhost=x\ntime=yesterday\n"] {
        std::fs::write(&path, bad).unwrap();
        let before = snapshot(&path);
        assert!(
            matches!(LockFile::read(&path), Err(Error::Malformed { .. })),
            "{bad:?}"
        );
        let mut lock = LockFile::new(&path);
        let err = lock.acquire(Acquire::default()).unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "{bad:?}: {err:?}");
        assert!(err.to_string().contains(path.to_str().unwrap()));
        assert_eq!(snapshot(&path), before);
    }
    let mut lock = LockFile::new(&path);
    lock.release(true).unwrap();
    assert!(!path.exists(), "force release removes whatever is there");
}
