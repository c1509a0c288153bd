//! The child gets only the fds it was given and a clean signal state.
#![cfg(feature = "process")]

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;

use pidward::process::{ChildFd, Command};

/// The fd numbers open in process `pid`.
fn open_fds(pid: u32) -> BTreeSet<i32> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The fds of a freshly exec'd `sleep`, once it has settled: right after exec the dynamic
/// loader briefly holds the libraries it maps open, so look again for a while before deciding.
/// A leaked fd would stay open for good and fail the comparison.
async fn settled_fds(pid: u32, expected: &BTreeSet<i32>) -> BTreeSet<i32> {
    let mut fds = open_fds(pid);
    for _ in 0..100 {
        if fds == *expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        fds = open_fds(pid);
    }
    fds
}

#[tokio::test]
async fn a_high_fd_open_in_the_parent_is_not_open_in_the_child() {
    // Without CLOEXEC, on purpose: only close_range in the child keeps it out.
    let file = std::fs::File::open("/dev/null").unwrap();
    // SAFETY: dup2 onto a number this test owns.
    assert_eq!(unsafe { libc::dup2(file.as_raw_fd(), 900) }, 900);
    let low = std::fs::File::open("/dev/null").unwrap();
    // SAFETY: clearing CLOEXEC on our own fd.
    unsafe { libc::fcntl(low.as_raw_fd(), libc::F_SETFD, 0) };
    assert!(open_fds(std::process::id()).contains(&900));

    let mut child = Command::new("sleep")
        .arg("30")
        .stdio_pipes()
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let expected = BTreeSet::from([0, 1, 2]);
    assert_eq!(settled_fds(child.id().unwrap(), &expected).await, expected);
    child.kill().await.unwrap();

    // With a sparse map: exactly the mapped numbers.
    let mut child = Command::new("sleep")
        .arg("30")
        .stdio_pipes()
        .stdin(ChildFd::Closed)
        .fd(7, ChildFd::Null)
        .fd(300, ChildFd::Output)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let expected = BTreeSet::from([1, 2, 7, 300]);
    assert_eq!(settled_fds(child.id().unwrap(), &expected).await, expected);
    child.kill().await.unwrap();
    // SAFETY: closing our own fd.
    unsafe { libc::close(900) };
}

#[tokio::test]
async fn no_fd_of_the_parent_leaks_through_a_shell() {
    let output = Command::new("sh")
        .args(["-c", "ls /proc/self/fd"])
        .output()
        .await
        .unwrap();
    let out = String::from_utf8(output.stdout).unwrap();
    let fds: Vec<i32> = out.lines().map(|l| l.parse().unwrap()).collect();
    // ls sees 0, 1, 2 and the directory it is reading (3).
    assert_eq!(fds, [0, 1, 2, 3], "{out}");
    assert!(output.status.success());
}
