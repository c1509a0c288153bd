//! The one support module of the integration tests: a test file says `mod support;` and
//! takes what it needs from the area it tests.
//!
//! | module | for |
//! |---|---|
//! | this file | the binary under test, waiting for a condition, process liveness, signals |
//! | [`guards`] | PID-file and lock-file guards: the guard helper process, snapshots of paths |
//! | [`lock`] | `pidward lock`: holders run by the real flock(1) |
//! | [`log`] | `pidward run`'s logs: logfmt lines, a `/dev/log`-style datagram listener, journald framing |
//! | [`notify`] | readiness: reaped children, raw datagrams |
//! | [`run`] | `pidward run` and `Daemon`: example programs, `/proc` readers, cleanup |
//! | [`cluster`] | a real etcd on loopback, `etcdctl`, a freezable proxy |
//!
//! Every test crate compiles all of it and uses a part, hence the `dead_code` allowance.

#![allow(dead_code)]

pub mod cluster;
pub mod guards;
pub mod lock;
pub mod log;
pub mod notify;
pub mod run;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The `pidward` binary under test.
pub fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pidward"))
}

/// `pidward` as a std command (for spawning and signalling).
pub fn pidward() -> Command {
    Command::new(exe())
}

/// Whether `cond` holds within `limit`, checking every few milliseconds (and once more at the
/// end).
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// Whether `pid` is alive: it exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next());
            !matches!(state, Some("Z" | "X") | None)
        }
        Err(_) => false,
    }
}

/// Send `sig` to `pid`, which the test started; panics if that fails.
pub fn kill(pid: u32, sig: i32) {
    assert_eq!(
        // SAFETY: kill(2) on a process this test started.
        unsafe { libc::kill(pid as i32, sig) },
        0,
        "kill {pid} {sig}"
    );
}
