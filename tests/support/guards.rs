//! Shared pieces of the guard tests: the helper process, the binary, temp dirs.
#![allow(dead_code)]

/// The helpers every area shares, for `use support::<area>::*`.
#[allow(unused_imports)]
pub use super::{alive, exe, kill, pidward, wait_until};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The guard helper process (tests/helpers/guard.rs), built with the `test-helpers` feature.
#[cfg(feature = "test-helpers")]
pub fn guard_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pidward-test-guard"))
}

/// A process killed (and reaped) when dropped.
pub struct Proc(pub Child);

impl Proc {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the guard helper in `mode` and wait until it prints "ready".
#[cfg(feature = "test-helpers")]
pub fn guard(mode: &str, path: &Path, extra: &[&str]) -> Proc {
    let mut child = Command::new(guard_exe())
        .arg(mode)
        .arg(path)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "guard {mode} exited early"
        );
        if line.trim() == "ready" {
            break;
        }
    }
    Proc(child)
}

/// A child that sleeps, for a live PID.
pub fn sleeper() -> Proc {
    Proc(Command::new("sleep").arg("300").spawn().unwrap())
}

/// A temp dir readable by everybody (tests drop privileges to nobody).
pub fn tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("pidward-test")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Everything about a path that a test wants unchanged: type, mode, inode, content (or link
/// target).
pub fn snapshot(path: &Path) -> Option<(u32, u64, Vec<u8>)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).ok()?;
    let body = if m.file_type().is_symlink() {
        std::fs::read_link(path)
            .unwrap()
            .into_os_string()
            .into_encoded_bytes()
    } else if m.is_file() {
        std::fs::read(path).unwrap()
    } else {
        Vec::new()
    };
    Some((m.mode(), m.ino(), body))
}

/// The position (1-based) of the `n`-th `openat(2)` of `path` among all of `pidward ARGS`'s
/// `openat` calls, from a strace log of a run.
pub fn openat_index(args: &[&std::ffi::OsStr], path: &Path, n: usize) -> usize {
    let dir = tempdir();
    let log = dir.path().join("trace");
    let status = std::process::Command::new("strace")
        .args(["-qq", "-e", "trace=openat", "-o"])
        .arg(&log)
        .arg(exe())
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("strace runs (the CI installs it)");
    assert!(status.code().is_some());
    let quoted = format!("\"{}\"", path.display());
    let text = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = text.lines().filter(|l| l.starts_with("openat(")).collect();
    let found: Vec<usize> = (0..calls.len())
        .filter(|&i| calls[i].contains(&quoted))
        .collect();
    assert!(found.len() >= n, "{text}");
    found[n - 1] + 1
}
