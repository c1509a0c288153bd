//! A `process::Child` that leads its process group signals that group through its pidfd, so
//! a stale handle (the kernel reaped the child while `SIGCHLD` was ignored, and both its PID
//! and its group id now belong to an unrelated process) signals nobody, neither with
//! `signal` nor with kill-on-drop. Forced PID reuse in a PID namespace; runs as root.
#![cfg(all(feature = "process", feature = "test-helpers"))]

use std::process::Command;

#[test]
fn a_stale_group_signal_never_reaches_a_recycled_group() {
    assert_eq!(
        // SAFETY: geteuid cannot fail.
        unsafe { libc::geteuid() },
        0,
        "needs root for a PID namespace"
    );
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(env!("CARGO_BIN_EXE_pidward-test-pgroup-reuse"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The kernel finds no group led by the dead child: nothing was sent.
    assert!(text.contains("signal: Err(ProcessExitedAlready"), "{text}");
    assert!(
        text.contains("alive after signal: true, after drop: true"),
        "{text}"
    );
}
