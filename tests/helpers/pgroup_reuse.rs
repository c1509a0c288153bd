//! Run as PID 1 of a fresh PID namespace: makes the kernel reap a `process::Child` behind its
//! handle's back (SIGCHLD ignored), gives its PID (and so its process group id) to an
//! unrelated process group leader through `ns_last_pid`, then signals the stale handle's
//! group and drops it with kill-on-drop. Prints what happened; exits 0 if the unrelated
//! process survived both, 1 if it was hit, 2 if the PID could not be reused.

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use pidward::Signal;
use pidward::process::Command;

/// Whether `pid` names a live process that is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    // SAFETY: changing this process's SIGCHLD disposition, before any child exists.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let child = Command::new("true")
        .kill_process_group(true)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn true");
    let pid = child.id().expect("not reaped through the handle");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "{pid} was never reaped by the kernel"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
    let mut other = std::process::Command::new("sleep")
        .arg("60")
        .process_group(0)
        .spawn()
        .expect("spawn sleep");
    if other.id() != pid {
        println!("no reuse: {} instead of {pid}", other.id());
        let _ = other.kill();
        std::process::exit(2);
    }
    let result = child.signal(Signal::TERM);
    println!("signal: {result:?}");
    std::thread::sleep(Duration::from_millis(200));
    let after_signal = alive(pid);
    drop(child);
    std::thread::sleep(Duration::from_millis(200));
    let after_drop = alive(pid);
    println!("alive after signal: {after_signal}, after drop: {after_drop}");
    let _ = other.kill();
    std::process::exit(if after_signal && after_drop { 0 } else { 1 });
}
