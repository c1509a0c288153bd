//! The child fd map: any fd numbers, pipes both ways, inherited fds, /dev/null, files, closed.
#![cfg(feature = "process")]

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use pidward::process::{ChildFd, Command, Event, ExitReason};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

/// A plain blocking pipe of the test process: (read end, write end).
fn os_pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds we then own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh fds.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

/// Moves `file` to fd number `at` in the test process (CLOEXEC) and returns it.
fn move_to(file: File, at: RawFd) -> File {
    // SAFETY: dup3 onto a number the test reserves for itself.
    let fd = unsafe { libc::dup3(file.as_raw_fd(), at, libc::O_CLOEXEC) };
    assert_eq!(fd, at, "{}", std::io::Error::last_os_error());
    // SAFETY: dup3 gave us this fd.
    unsafe { File::from(OwnedFd::from_raw_fd(fd)) }
}

#[tokio::test]
async fn six_fd_map_data_arrives_closing_is_reported_and_eof_reaches_the_child() {
    timeout(LIMIT, async {
        let (mut err_read, err_write) = os_pipe();
        let script = r#"
            read a            # fd 0, from the parent
            read b <&3        # fd 3, from the parent
            echo "0:$a 3:$b"
            echo "to-inherited-stderr" >&2
            exec 4>&-         # the parent must be told that fd 4 closed
            n=$(cat <&5 | wc -c)
            echo "5:eof after $n"
        "#;
        let mut child = Command::new("sh")
            .args(["-c", script])
            .fd(0, ChildFd::Input)
            .fd(1, ChildFd::Output)
            .fd(2, ChildFd::Inherit(err_write.as_raw_fd()))
            .fd(3, ChildFd::Input)
            .fd(4, ChildFd::Output)
            .fd(5, ChildFd::Input)
            .spawn()
            .unwrap();
        drop(err_write);
        child.write_to(0, b"zero\n").await.unwrap();
        child.write_to(3, b"three\n").await.unwrap();

        let mut out = Vec::new();
        let mut log = Vec::new();
        // Until the child reports fd 4 closed, it has not reached the fd 5 part.
        loop {
            match child.next_event().await.unwrap().unwrap() {
                Event::Data { fd: 1, data } => out.extend(data),
                Event::Closed { fd: 4 } => {
                    log.push("closed 4");
                    break;
                }
                other => panic!("unexpected before fd 4 closed: {other:?}"),
            }
        }
        child.write_to(5, b"abc").await.unwrap();
        child.close_fd(5);
        while let Some(event) = child.next_event().await.unwrap() {
            match event {
                Event::Data { fd: 1, data } => out.extend(data),
                Event::Data { fd, .. } => panic!("data on fd {fd}"),
                Event::Closed { fd } => log.push(match fd {
                    0 => "closed 0",
                    1 => "closed 1",
                    3 => "closed 3",
                    5 => "closed 5",
                    _ => panic!("closed {fd} twice or unexpectedly"),
                }),
                Event::Exited(reason) => {
                    assert_eq!(reason, ExitReason::Exited(0));
                    log.push("exited");
                }
                Event::Ended(_) => log.push("ended"),
            }
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "0:zero 3:three\n5:eof after 3\n"
        );
        assert_eq!(log[..2], ["closed 4", "closed 5"]);
        assert_eq!(log.last(), Some(&"ended"));
        for expected in ["closed 0", "closed 1", "closed 3", "exited"] {
            assert!(log.contains(&expected), "{expected} missing from {log:?}");
        }
        let mut stderr = String::new();
        err_read.read_to_string(&mut stderr).unwrap();
        assert_eq!(stderr, "to-inherited-stderr\n");
    })
    .await
    .unwrap();
}

/// Parent fds 40 and 41 swap places in the child: each source is the other's target, so the
/// child must move them out of the way before placing them.
#[tokio::test]
async fn overlapping_sources_and_targets_are_placed_correctly() {
    timeout(LIMIT, async {
        let (mut a_read, a_write) = os_pipe();
        let (mut b_read, b_write) = os_pipe();
        let a_write = move_to(a_write, 40);
        let b_write = move_to(b_write, 41);
        // bash, because dash only redirects fds 0 to 9.
        let mut child = Command::new("bash")
            .args(["-c", "echo to-41 >&41; echo to-40 >&40; echo to-3 >&3"])
            .fd(41, ChildFd::Inherit(40))
            .fd(40, ChildFd::Inherit(41))
            .fd(3, ChildFd::Inherit(40))
            .spawn()
            .unwrap();
        assert!(child.wait().await.unwrap().success());
        drop((a_write, b_write));
        let (mut a, mut b) = (String::new(), String::new());
        a_read.read_to_string(&mut a).unwrap();
        b_read.read_to_string(&mut b).unwrap();
        assert_eq!(a, "to-41\nto-3\n");
        assert_eq!(b, "to-40\n");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn null_file_and_closed_fds() {
    timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let file = File::create(&path).unwrap();
        let mut child = Command::new("sh")
            .args([
                "-c",
                "wc -c; if [ -e /proc/$$/fd/2 ]; then echo fd2-open; else echo fd2-closed; fi",
            ])
            .stdin(ChildFd::Null)
            .stdout(file)
            .stderr(ChildFd::Closed)
            .spawn()
            .unwrap();
        assert!(
            child.take_stdin().is_none(),
            "stdin is /dev/null, not a pipe"
        );
        assert!(
            child.take_stdout().is_none(),
            "stdout is a file, not a pipe"
        );
        assert!(child.wait().await.unwrap().success());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "0\nfd2-closed\n");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn inheriting_a_closed_parent_fd_is_an_error_that_starts_nothing() {
    let err = Command::new("true")
        .fd(3, ChildFd::Inherit(987))
        .spawn()
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, pidward::process::Error::InvalidCommand(_)));
    assert!(text.contains("987") && text.contains("not open"), "{text}");
}
