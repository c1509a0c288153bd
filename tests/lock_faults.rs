//! `pidward lock` under injected faults: `EINTR` from any call is retried, never reported,
//! and a real error names the step (strace injects the faults, as the fault sweep does).

use std::process::{Command, Output};

const PIDWARD: &str = env!("CARGO_BIN_EXE_pidward");

fn lock_under(inject: &str, file: &std::path::Path, extra: &[&str]) -> Output {
    Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "-e"])
        .arg(format!("inject={inject}"))
        .args([PIDWARD, "lock"])
        .args(extra)
        .arg(file)
        .arg("true")
        .output()
        .expect("strace runs (the CI installs it)")
}

#[test]
fn eintr_from_fcntl_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("L");
    std::fs::write(&file, "keep\n").unwrap();
    // The first two fcntl(2) calls are F_GETFD and F_SETFD on the lock's descriptor.
    for k in 1..=5 {
        for extra in [&[][..], &["-o"][..]] {
            let out = lock_under(&format!("fcntl:error=EINTR:when={k}"), &file, extra);
            assert!(
                out.status.success(),
                "when={k} {extra:?}: {:?} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep\n");
}

#[test]
fn a_failing_fcntl_names_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("L");
    let out = lock_under("fcntl:error=EIO:when=1", &file, &[]);
    assert_eq!(out.status.code(), Some(71));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot pass the lock on to the command: fcntl F_GETFD")
            && err.contains("Input/output error"),
        "{err}"
    );
}
