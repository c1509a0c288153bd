//! A fault at every system call: `bench/fault_sweep.py`, bounded for the test suite.
//!
//! `pidward status` and `pidward stop` (the two smallest operations) get every point: a
//! SIGKILL, and each error of the call's class (EINTR included), at every call they make.
//! `pidward lock`, `pidward run -p F -- true`, `pidward run -d -p F --ready notify` and a
//! `Daemon` start (the test helper's `daemon`) get a random sample of kills and errors (the
//! seed is printed, so a failure can be replayed with `--seed`); `PidFile` and `LockFile`
//! acquire + release (through the test helper) get every point. The processes that a detached
//! start forks (`runready-bg`, `daemon-bg`: the middle one of the double fork and the final
//! one, faulted through the script's own ptrace tracer) get every point of the middle process
//! and a sample of the final one's start, and the reads of the notify sender's
//! `/proc/PID/stat` each fail once with EIO (a lost `READY=1` made the start hang until its
//! timeout). The `run -d` supervisor's own stop (from its forwarding of the TERM that
//! `pidward stop` sends on) gets every error its `pidfd_send_signal`, `ppoll`, `waitid` and
//! `wait4` calls can return. The script checks the PID-file invariants after each run; any
//! violation fails the test with the list. The whole sweep is `bench/fault_sweep.py`.

#![cfg(feature = "test-helpers")]

use std::process::Command;

fn sweep(args: &[&str]) {
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/fault_sweep.py"))
        .args(["--pidward", env!("CARGO_BIN_EXE_pidward")])
        .args(["--guard", env!("CARGO_BIN_EXE_pidward-test-guard")])
        .args(args)
        .output()
        .expect("python3 and strace run (the CI installs both)");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}{err}");
    // The sweep did run: one summary line per operation, with runs.
    assert!(text.contains(" runs ("), "{text}{err}");
    eprintln!("{text}");
}

#[test]
fn status_survives_a_fault_at_every_system_call() {
    sweep(&["--ops", "status"]);
}

#[test]
fn stop_survives_a_fault_at_every_system_call() {
    sweep(&["--ops", "stop"]);
}

#[test]
fn lock_survives_a_sample_of_kills_and_errors() {
    sweep(&["--ops", "lock", "--faults", "kill,error", "--sample", "60"]);
}

#[test]
fn pidfile_and_lockfile_guards_survive_a_fault_at_every_system_call() {
    sweep(&["--ops", "pidfile,lockfile"]);
}

#[test]
fn a_foreground_run_survives_a_sample_of_kills_and_errors() {
    sweep(&["--ops", "run", "--sample", "40"]);
}

#[test]
fn a_detached_start_with_readiness_survives_a_sample_of_kills_and_errors() {
    sweep(&["--ops", "runready", "--sample", "25"]);
}

#[test]
fn a_library_daemon_start_survives_a_sample_of_kills_and_errors() {
    sweep(&["--ops", "daemon", "--sample", "25"]);
}

#[test]
fn the_detached_processes_of_a_start_survive_kills_and_errors() {
    sweep(&["--ops", "runready-bg,daemon-bg", "--roles", "middle"]);
    sweep(&[
        "--ops",
        "daemon-bg,runready-bg",
        "--start-only",
        "--sample",
        "20",
    ]);
}

#[test]
fn ready_survives_a_failed_read_of_the_senders_proc_stat() {
    sweep(&[
        "--ops",
        "runready-bg",
        "--faults",
        "error",
        "--errors",
        "EIO",
        "--calls",
        "read",
        "--after",
        "recvmsg",
        "--start-only",
    ]);
}

#[test]
fn the_supervisors_stop_survives_errors_of_its_signals_polls_and_waits() {
    sweep(&[
        "--ops",
        "runready-bg",
        "--roles",
        "final",
        "--faults",
        "error,eintr",
        "--calls",
        "pidfd_send_signal,ppoll,waitid,wait4",
        "--after",
        "pidfd_send_signal",
    ]);
}
