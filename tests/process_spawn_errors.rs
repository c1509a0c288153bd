//! Spawn failures come back from spawn() with the step and the OS error, and leave nothing.
#![cfg(feature = "process")]

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;

use pidward::child::{Resource, Rlimit, Step};
use pidward::process::{Command, Error};

fn spawn_error(cmd: &mut Command) -> (Step, ErrorKind, Option<i32>, String) {
    match cmd.spawn() {
        Ok(_) => panic!("spawn of {cmd:?} succeeded"),
        Err(err @ Error::Spawn { step, .. }) => {
            (step, err.kind(), err.raw_os_error(), err.to_string())
        }
        Err(other) => panic!("expected a spawn error, got {other:?}"),
    }
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Children of this process that are zombies.
fn zombie_children() -> Vec<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
            fields[0] == "Z" && fields[1] == me
        })
        .collect()
}

#[tokio::test]
async fn a_missing_program_is_not_found() {
    let (step, kind, errno, text) = spawn_error(&mut Command::new("pidward-no-such-program"));
    assert_eq!(
        (step, kind, errno),
        (Step::Exec, ErrorKind::NotFound, Some(libc::ENOENT))
    );
    assert!(text.contains("pidward-no-such-program"), "{text}");

    let (step, kind, ..) = spawn_error(&mut Command::new("/nonexistent/dir/program"));
    assert_eq!((step, kind), (Step::Exec, ErrorKind::NotFound));
}

#[tokio::test]
async fn a_file_that_is_not_executable_is_permission_denied() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    // Even root cannot execute a file without any execute bit.
    let (step, kind, errno, _) = spawn_error(&mut Command::new(&script));
    assert_eq!(
        (step, kind, errno),
        (Step::Exec, ErrorKind::PermissionDenied, Some(libc::EACCES))
    );

    // Found in PATH but not executable: EACCES too, as execvp reports it.
    let (_, kind, ..) = spawn_error(Command::new("not-executable").env("PATH", dir.path()));
    assert_eq!(kind, ErrorKind::PermissionDenied);

    // A directory.
    let (_, _, errno, _) = spawn_error(&mut Command::new(dir.path()));
    assert_eq!(errno, Some(libc::EACCES));

    // Executable but not a program the kernel can load.
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"\x7fELF but not really").unwrap();
    std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (step, _, errno, _) = spawn_error(&mut Command::new(&junk));
    assert_eq!((step, errno), (Step::Exec, Some(libc::ENOEXEC)));
}

#[tokio::test]
async fn a_bad_working_directory_is_reported_with_its_path() {
    let (step, kind, _, text) =
        spawn_error(Command::new("true").current_dir("/nonexistent/workdir"));
    assert_eq!((step, kind), (Step::Chdir, ErrorKind::NotFound));
    assert!(text.contains("/nonexistent/workdir"), "{text}");

    let (step, _, errno, _) = spawn_error(Command::new("true").current_dir("/etc/hostname"));
    assert_eq!((step, errno), (Step::Chdir, Some(libc::ENOTDIR)));
}

#[tokio::test]
async fn failed_spawns_leave_no_zombie_and_no_fd() {
    // Warm up anything the first spawn creates once.
    let _ = Command::new("pidward-no-such-program").spawn();
    let fds = fd_count();
    for _ in 0..100 {
        assert!(Command::new("pidward-no-such-program").spawn().is_err());
        assert!(
            Command::new("true")
                .current_dir("/nonexistent")
                .spawn()
                .is_err()
        );
    }
    assert_eq!(fd_count(), fds);
    assert_eq!(zombie_children(), Vec::<u32>::new());
}

#[test]
fn spawn_outside_a_runtime_is_an_error() {
    let err = Command::new("true").spawn().unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

#[tokio::test]
async fn contradictory_settings_are_rejected_before_anything_starts() {
    // A soft limit above the hard one cannot even be built.
    let e = Rlimit::new(Resource::NOFILE, Some(10), Some(5)).unwrap_err();
    assert!(e.to_string().contains("soft limit 10"), "{e}");
    for (cmd, needle) in [
        (
            Command::new("true")
                .process_group(5)
                .kill_process_group(true),
            "kill_process_group",
        ),
        (
            Command::new("true").fd(-1, pidward::process::ChildFd::Null),
            "child fd -1",
        ),
    ] {
        match cmd.spawn() {
            Err(Error::InvalidCommand(text)) => assert!(text.contains(needle), "{text}"),
            other => panic!("expected an invalid command, got {other:?}"),
        }
    }
}
