//! No growth over restarts: `bench/restarts.sh` bounded to 300 restarts of a long-lived
//! `pidward run -p F --restart always --restart-delay 0 -- true`. The supervisor's open
//! descriptors (`/proc/PID/fd`) at 300 restarts are those at 100, give or take the 2 that a
//! run in flight holds, and its VmRSS at 300 is within 64 KiB of that at 100. The
//! 10,000-restart run is the script's default (docs/robustness.md).

mod support;

use std::process::Command;

#[test]
fn a_supervisor_keeps_its_descriptors_and_memory_over_300_restarts() {
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/restarts.sh"))
        .args(["0", "100", "300"])
        .env("PIDWARD", support::exe())
        .output()
        .expect("bash runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}{err}");
    assert!(text.contains("no growth"), "{text}{err}");
    eprintln!("{text}");
}
