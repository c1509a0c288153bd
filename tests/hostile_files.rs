//! Hostile PID files: each gets its documented result from `status`, `stop`, `read` and
//! `acquire`, and no existing file changes.

#![cfg(feature = "test-helpers")]

mod support;
use support::guards::*;

use std::path::Path;

use pidward::pidfile::{self, Error, PidFile};

/// What a path holds before the test, and how to make it.
enum Make {
    Content(Vec<u8>),
    SymlinkTo(&'static str),
    Dir,
    Fifo,
}

/// (name, how to make it, expected `status` exit code, expected text in the message)
fn cases() -> Vec<(&'static str, Make, i32, &'static str)> {
    let pid_max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut garbage = vec![0u8, 0xff, 0xfe, b'1', 0x7f, b'\n'];
    garbage.extend((0..200u8).map(|b| b.wrapping_mul(37)));
    let huge = vec![b'9'; 4 << 20];
    vec![
        ("symlink", Make::SymlinkTo("target"), 4, "symbolic link"),
        ("directory", Make::Dir, 4, "directory"),
        ("fifo", Make::Fifo, 4, "FIFO"),
        // Empty, or a number no process can have: stale (names no process), not invalid.
        (
            "empty",
            Make::Content(vec![]),
            1,
            "stale PID file (the file is empty)",
        ),
        (
            "whitespace",
            Make::Content(b" \t \n  \n".to_vec()),
            1,
            "stale PID file (the file is empty)",
        ),
        (
            "minus-one",
            Make::Content(b"-1\n".to_vec()),
            4,
            "\"-1\" is not a decimal PID",
        ),
        (
            "zero",
            Make::Content(b"0\n".to_vec()),
            4,
            "out of the PID range",
        ),
        (
            "plus-five",
            Make::Content(b"+5\n".to_vec()),
            4,
            "\"+5\" is not a decimal PID",
        ),
        (
            "underscore",
            Make::Content(b"1_000\n".to_vec()),
            4,
            "\"1_000\"",
        ),
        ("hex", Make::Content(b"0x10\n".to_vec()), 4, "\"0x10\""),
        (
            "beyond-pid-max",
            Make::Content(format!("{}\n", pid_max + 1).into_bytes()),
            1,
            "out of the PID range",
        ),
        (
            "leading-zeros",
            Make::Content(b"0000000000000000000001\n".to_vec()),
            0,
            "running as PID 1",
        ),
        ("binary", Make::Content(garbage), 4, "is not a decimal PID"),
        ("huge", Make::Content(huge), 4, "longer than"),
    ]
}

fn make(dir: &Path, name: &str, how: &Make) -> std::path::PathBuf {
    let path = dir.join(name);
    match how {
        Make::Content(c) => std::fs::write(&path, c).unwrap(),
        Make::SymlinkTo(t) => {
            std::fs::write(dir.join(t), "1\n").unwrap();
            std::os::unix::fs::symlink(t, &path).unwrap();
        }
        Make::Dir => std::fs::create_dir(&path).unwrap(),
        Make::Fifo => {
            let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            // SAFETY: a plain system call with no memory-safety preconditions.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        }
    }
    path
}

#[test]
fn status_reports_each_hostile_file_and_changes_nothing() {
    let dir = tempdir();
    for (name, how, code, text) in cases() {
        let path = make(dir.path(), name, &how);
        let before = (snapshot(&path), snapshot(&dir.path().join("target")));
        let out = pidward()
            .args(["status", path.to_str().unwrap()])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{name}: {stdout}");
        assert!(stdout.contains(text), "{name}: {stdout:?} lacks {text:?}");
        let json = pidward()
            .args(["status", "--json", path.to_str().unwrap()])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        let want_state = match code {
            0 => "running",
            1 => "stale",
            _ => "invalid",
        };
        assert_eq!(v["state"], want_state, "{name}");
        assert_eq!(
            (snapshot(&path), snapshot(&dir.path().join("target"))),
            before,
            "{name}"
        );
    }
}

#[test]
fn stop_signals_nothing_for_hostile_files() {
    let dir = tempdir();
    for (name, how, code, _) in cases() {
        let path = make(dir.path(), name, &how);
        let before = snapshot(&path);
        let out = pidward()
            .args(["stop", "--remove-pidfile", path.to_str().unwrap()])
            .output()
            .unwrap();
        if code == 1 {
            // Stale: nothing to stop, and the stale file goes as asked.
            assert_eq!(out.status.code(), Some(0), "{name}");
            assert!(!path.exists(), "{name}");
            continue;
        }
        // Invalid, or (leading zeros) PID 1, which is never signalled.
        assert_eq!(
            out.status.code(),
            Some(4),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(path.to_str().unwrap()), "{name}: {stderr}");
        assert_eq!(snapshot(&path), before, "{name}");
    }
}

#[test]
fn acquire_never_writes_through_or_over_a_hostile_file() {
    let dir = tempdir();
    for (name, how, _, _) in cases() {
        let path = make(dir.path(), name, &how);
        let before = (snapshot(&path), snapshot(&dir.path().join("target")));
        let result = PidFile::acquire(&path);
        match name {
            // An empty or blank file is a crashed owner's, and no process has a PID above
            // pid_max: taken over, then removed on drop.
            "empty" | "whitespace" | "beyond-pid-max" => {
                let guard = result.unwrap();
                assert_eq!(pidfile::read(&path).unwrap(), std::process::id());
                drop(guard);
                continue;
            }
            // Names PID 1, alive and older than the file: a program that does not lock.
            "leading-zeros" => assert!(
                matches!(result, Err(Error::AlreadyRunning { pid: Some(1), .. })),
                "{result:?}"
            ),
            "symlink" | "directory" | "fifo" => {
                assert!(
                    matches!(result, Err(Error::NotRegular { .. })),
                    "{name}: {result:?}"
                )
            }
            _ => assert!(
                matches!(result, Err(Error::Invalid { .. })),
                "{name}: {result:?}"
            ),
        }
        let msg = result.unwrap_err().to_string();
        assert!(msg.contains(path.to_str().unwrap()), "{name}: {msg}");
        assert_eq!(
            (snapshot(&path), snapshot(&dir.path().join("target"))),
            before,
            "{name}"
        );
    }
}
