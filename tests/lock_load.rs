//! Load on one lock (`bench/lock_load.py`, bounded for the test suite): 256 concurrent
//! `pidward lock -w 30 L cmd` each incrementing a counter under the lock, 2 rounds (the bench
//! runs 20): the count is exact and no process is left.

use std::process::Command;

#[test]
fn two_hundred_fifty_six_waiters_count_exactly_and_leave_nothing() {
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/lock_load.py"))
        .args(["--procs", "256", "--rounds", "2"])
        .args(["--pidward", env!("CARGO_BIN_EXE_pidward")])
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("512 increments under the lock, 0 failures"),
        "{text}"
    );
    eprintln!("{text}");
}
