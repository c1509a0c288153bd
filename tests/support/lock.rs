//! Shared helpers for the `pidward lock` tests: the binary, lock holders run by the real
//! flock(1), and small process utilities.

#![allow(dead_code)]

/// The helpers every area shares, for `use support::<area>::*`.
#[allow(unused_imports)]
pub use super::{alive, exe, kill, pidward, wait_until};

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// `pidward lock ARGS...` as an assert_cmd command.
pub fn lock(args: &[&str]) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_pidward"));
    cmd.arg("lock").args(args);
    cmd.timeout(Duration::from_secs(60));
    cmd
}

/// A process that holds a lock on a path until dropped: `flock OPTS PATH sh -c '...'`, in its
/// own process group so that dropping it kills the command that inherited the lock too.
pub struct Holder {
    child: Child,
}

impl Holder {
    /// Start `flock OPTS PATH` holding the lock, and return once it holds it.
    pub fn new(opts: &[&str], path: &Path) -> Holder {
        let mut child = Command::new("flock")
            .args(opts)
            .arg(path)
            .args(["sh", "-c", "echo locked; exec sleep 60"])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("flock(1) is installed");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked", "the holder did not get the lock");
        Holder { child }
    }

    /// The PID of flock(1), which took the lock (the one /proc/locks names).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group we created.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// Whether flock(1) can take the lock right now (`flock -n PATH true`).
pub fn free(path: &Path) -> bool {
    Command::new("flock")
        .arg("-n")
        .arg(path)
        .arg("true")
        .status()
        .unwrap()
        .success()
}

/// Read lines from `out` until one equals `want`; panic on EOF. Returns the lines read.
pub fn read_until(out: &mut BufReader<ChildStdout>, want: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "EOF before {want:?}; got {lines:?}");
        let line = line.trim_end().to_owned();
        let done = line == want;
        lines.push(line);
        if done {
            return lines;
        }
    }
}
