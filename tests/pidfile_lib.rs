//! PidFile through the public API, with holders in separate processes.

#![cfg(feature = "test-helpers")]

mod support;
use support::guards::*;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

use pidward::flock;
use pidward::pidfile::{self, Error, Invalid, PidFile, Stale, Status};

#[test]
fn sigkill_of_holder_frees_the_file_at_once() {
    let dir = tempdir();
    let path = dir.path().join("app.pid");
    let mut holder = guard("hold", &path, &[]);
    let holder_pid = holder.pid();
    assert_eq!(pidfile::read(&path).unwrap(), holder_pid);
    match PidFile::acquire(&path) {
        Err(Error::AlreadyRunning { pid, path: p }) => {
            assert_eq!(pid, Some(holder_pid));
            assert_eq!(p, path);
        }
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }
    holder.0.kill().unwrap();
    holder.0.wait().unwrap();
    assert!(matches!(
        pidfile::status(&path),
        Status::Stale { pid, why: Stale::Dead } if pid == holder_pid
    ));
    let t = Instant::now();
    let guard = PidFile::acquire(&path).unwrap();
    assert!(t.elapsed() < Duration::from_secs(1));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{}\n", std::process::id())
    );
    drop(guard);
    assert!(!path.exists());
}

#[test]
fn a_starting_holder_is_reported_as_starting() {
    let dir = tempdir();
    let path = dir.path().join("app.pid");
    let _holder = guard("hold", &path, &["defer"]);
    assert!(matches!(pidfile::status(&path), Status::Starting));
    assert!(matches!(
        PidFile::acquire(&path),
        Err(Error::AlreadyRunning { pid: None, .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), b"");
}

#[test]
fn every_mode_is_honoured_whatever_the_umask() {
    let dir = tempdir();
    for mode in [0o644, 0o600, 0o640, 0o444, 0o000, 0o666] {
        let path = dir.path().join(format!("m{mode:o}.pid"));
        let guard = PidFile::options().mode(mode).acquire(&path).unwrap();
        let got = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(got, mode, "mode {mode:o}");
        drop(guard);
    }
}

#[test]
fn owner_is_applied() {
    let dir = tempdir();
    let path = dir.path().join("o.pid");
    let guard = PidFile::options()
        .owner(Some(65534), Some(65534))
        .acquire(&path)
        .unwrap();
    let m = std::fs::metadata(&path).unwrap();
    assert_eq!((m.uid(), m.gid()), (65534, 65534));
    drop(guard);
}

#[test]
fn parents_are_created_or_the_blocking_path_is_named() {
    let dir = tempdir();
    let path = dir.path().join("a/b/c/app.pid");
    let guard = PidFile::options().create_dirs(true).acquire(&path).unwrap();
    assert!(path.exists());
    drop(guard);
    std::fs::write(dir.path().join("file"), "keep").unwrap();
    let bad = dir.path().join("file/sub/app.pid");
    let err = PidFile::options()
        .create_dirs(true)
        .acquire(&bad)
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.path().join("file").display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains("regular file") || msg.to_lowercase().contains("not a directory"),
        "{msg}"
    );
    assert_eq!(std::fs::read(dir.path().join("file")).unwrap(), b"keep");
    // Without create_dirs, a missing parent is an I/O error naming the path.
    let err = PidFile::acquire(dir.path().join("missing/app.pid")).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Lock(flock::Error::Io {
                step: flock::Step::Open,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn reentrant_acquire_shares_one_lock() {
    let dir = tempdir();
    let path = dir.path().join("r.pid");
    let first = PidFile::acquire(&path).unwrap();
    assert!(matches!(
        PidFile::acquire(&path),
        Err(Error::AlreadyRunning { pid: Some(p), .. }) if p == std::process::id()
    ));
    let second = PidFile::options().reentrant(true).acquire(&path).unwrap();
    drop(first);
    assert!(path.exists(), "the second guard still holds it");
    assert!(matches!(
        pidfile::status(&path),
        Status::Running { locked: true, .. }
    ));
    drop(second);
    assert!(!path.exists());
}

#[test]
fn release_removes_only_our_inode_and_twice_is_harmless() {
    let dir = tempdir();
    let path = dir.path().join("x.pid");
    let guard = PidFile::acquire(&path).unwrap();
    // Someone replaces the file behind our back.
    let other = dir.path().join("other");
    std::fs::write(&other, "777\n").unwrap();
    std::fs::rename(&other, &path).unwrap();
    guard.release().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"777\n");
    std::fs::remove_file(&path).unwrap();
    let guard = PidFile::acquire(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    guard.release().unwrap();
}

#[test]
fn a_file_that_is_not_a_pid_file_is_never_overwritten() {
    let dir = tempdir();
    for content in [
        &b"root:x:0:0:root:/root:/bin/bash\n"[..],
        b"0x10\n",
        b"\x00\x01binary",
    ] {
        let path = dir.path().join("passwd");
        std::fs::write(&path, content).unwrap();
        let before = snapshot(&path);
        let err = PidFile::acquire(&path).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
        assert!(err.to_string().contains("passwd"));
        assert_eq!(snapshot(&path), before);
    }
    let path = dir.path().join("big");
    let big = format!("123\n{}", "x".repeat(3 << 20));
    std::fs::write(&path, &big).unwrap();
    assert!(matches!(
        PidFile::acquire(&path),
        Err(Error::Invalid {
            reason: Invalid::TooLarge(_),
            ..
        })
    ));
    assert_eq!(std::fs::read(&path).unwrap().len(), big.len());
    // A stale PID and an empty file are taken over.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    for content in [format!("{}\n", gone.id()), String::new(), "  \n".to_owned()] {
        let path = dir.path().join("stale.pid");
        std::fs::write(&path, content).unwrap();
        let guard = PidFile::acquire(&path).unwrap();
        assert_eq!(pidfile::read(&path).unwrap(), std::process::id());
        drop(guard);
    }
}

#[test]
fn rewriting_a_pid_leaves_exactly_the_new_one() {
    let dir = tempdir();
    let path = dir.path().join("w.pid");
    let mut guard = PidFile::options().defer_write(true).acquire(&path).unwrap();
    guard.write_pid(4_000_000).unwrap();
    guard.write_pid(7).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"7\n");
    assert_eq!(guard.pid(), Some(7));
}

#[test]
fn read_errors_are_distinct() {
    let dir = tempdir();
    let path = dir.path().join("r.pid");
    assert!(matches!(pidfile::read(&path), Err(Error::NotFound { .. })));
    std::fs::write(&path, "12abc\n").unwrap();
    match pidfile::read(&path) {
        Err(e @ Error::Invalid { .. }) => assert!(e.to_string().contains("\"12abc\""), "{e}"),
        other => panic!("{other:?}"),
    }
    std::fs::create_dir(dir.path().join("d")).unwrap();
    assert!(matches!(
        pidfile::read(dir.path().join("d")),
        Err(Error::NotRegular {
            what: "a directory",
            ..
        })
    ));
}

#[test]
fn killed_politely_leaves_no_file() {
    let dir = tempdir();
    let path = dir.path().join("c.pid");
    let mut holder = guard("cleanup", &path, &[]);
    assert!(path.exists());
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(holder.pid() as i32, libc::SIGTERM) };
    let status = holder.0.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM), "dies of the signal");
    assert!(!path.exists());
}

#[test]
fn cleanup_handler_respects_an_ignored_signal() {
    let dir = tempdir();
    let path = dir.path().join("c.pid");
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' TERM; exec {} cleanup {}",
            guard_exe().display(),
            path.display()
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut sigs = String::new();
    out.read_line(&mut sigs).unwrap();
    assert_eq!(
        sigs.trim(),
        "INT,HUP",
        "TERM is ignored, so it keeps its disposition"
    );
    let proc_ = Proc(child);
    wait_until(Duration::from_secs(5), || path.exists());
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(proc_.pid() as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(proc_.pid()) && path.exists());
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(proc_.pid() as i32, libc::SIGHUP) };
    assert!(wait_until(Duration::from_secs(5), || !path.exists()));
}

#[test]
fn readers_never_see_a_partial_pid_while_the_owner_rewrites_it() {
    let dir = tempdir();
    let path = dir.path().join("flip.pid");
    let writer = guard("flip", &path, &[]);
    // Read until both PIDs have been seen many times (a loaded machine just takes longer).
    let end = Instant::now() + Duration::from_secs(60);
    let (mut sevens, mut others, mut reads) = (0u64, 0u64, 0u64);
    while (sevens < 200 || others < 200) && Instant::now() < end {
        reads += 1;
        match pidfile::read(&path) {
            Ok(7) => sevens += 1,
            Ok(32_000) => others += 1,
            Ok(p) if p == writer.pid() => {} // written at acquire, before the loop
            // Between truncate and write the file is empty; a reader waits for the owner, and
            // only if the owner is descheduled longer than that (a loaded machine) does it give
            // up with "empty". Never a wrong or partial PID.
            Err(pidfile::Error::Invalid {
                reason: Invalid::Empty,
                ..
            }) => {}

            other => panic!("a reader saw {other:?} after {reads} good reads"),
        }
        match pidfile::status(&path) {
            Status::Running { pid, locked: true }
                if pid == 7 || pid == 32_000 || pid == writer.pid() => {}
            Status::Starting => {}
            other => panic!("status saw {other:?}"),
        }
    }
    assert!(
        sevens >= 200 && others >= 200,
        "the rewrites were not observed: {sevens} x 7, {others} x 32000 in {reads} reads"
    );
}

#[test]
fn status_queries_never_make_an_acquirer_fail() {
    let dir = tempdir();
    let path = dir.path().join("probed.pid");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probes = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = pidfile::status(&path);
                n += 1;
            }
            n
        })
    };
    for i in 0..2000 {
        match PidFile::acquire(&path) {
            Ok(guard) => guard.release().unwrap(),
            Err(e) => panic!("cycle {i}: a status query made the acquirer fail: {e}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(probes.join().unwrap() > 0);
}
