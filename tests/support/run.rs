//! Shared helpers for the tests of `pidward run` and of the `Daemon` builder: finding the
//! helper programs, reading `/proc`, and cleaning up every process a test started.

#![allow(dead_code)]

/// The helpers every area shares, for `use support::<area>::*`.
#[allow(unused_imports)]
pub use super::{alive, exe, kill, pidward, wait_until};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// `pidward run ARGS` with `env` added, `$PIDWARD` set (for scripts that call `pidward
/// notify`) and no inherited `NOTIFY_SOCKET`: its output, and how long it took.
pub fn run_with(args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
    let start = Instant::now();
    let out = pidward()
        .arg("run")
        .args(args)
        .env("PIDWARD", exe())
        .env_remove("NOTIFY_SOCKET")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (out, start.elapsed())
}

/// [`run_with`] without extra environment.
pub fn run(args: &[&str]) -> (Output, Duration) {
    run_with(args, &[])
}

/// An example program, built next to the binary. A full `cargo test` or `cargo nextest run`
/// builds the examples; a run filtered to one test target does not, so a missing example is
/// built here, with the same profile and features as the tests.
pub fn example(name: &str) -> PathBuf {
    let bin = exe();
    let profile_dir = bin.parent().unwrap();
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let mut cargo = std::process::Command::new(env!("CARGO"));
        cargo
            .args(["build", "--quiet", "--example", name, "--manifest-path"])
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .arg("--target-dir")
            .arg(profile_dir.parent().unwrap());
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cargo.arg("--release");
        }
        cargo.args(["--no-default-features", "--features", &features()]);
        let status = cargo.status().expect("run cargo build --example");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// The package's features this test crate was built with, comma-separated: an example built
/// for a test gets the same, so that the library is not built again with fewer (which, under
/// `--all-features`, would thrash the shared target dir and take minutes).
pub fn features() -> String {
    [
        ("cli", cfg!(feature = "cli")),
        ("etcd", cfg!(feature = "etcd")),
        ("process", cfg!(feature = "process")),
        ("test-helpers", cfg!(feature = "test-helpers")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect::<Vec<_>>()
    .join(",")
}

/// A command's stderr, as text.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A command's stdout, as text.
pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// True as root; otherwise prints that the test is skipped.
pub fn root_or_skip() -> bool {
    let root = is_root();
    if !root {
        eprintln!("skipped: needs root");
    }
    root
}

/// The uid, gid and (sorted) groups of user `nobody`, as `getgrouplist(3)` gives them.
pub fn nobody() -> (u32, u32, Vec<u32>) {
    let user = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("no user nobody");
    let name = std::ffi::CString::new(user.name.clone()).unwrap();
    let mut groups: Vec<u32> = nix::unistd::getgrouplist(&name, user.gid)
        .unwrap()
        .into_iter()
        .map(|g| g.as_raw())
        .collect();
    groups.sort_unstable();
    groups.dedup();
    (user.uid.as_raw(), user.gid.as_raw(), groups)
}

/// The supplementary groups of a process (`Groups:` in `/proc/PID/status`), sorted.
pub fn groups_of(pid: u32) -> Vec<u32> {
    let mut g: Vec<u32> = status_field(pid, "Groups")
        .unwrap()
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect();
    g.sort_unstable();
    g.dedup();
    g
}

/// Asserts that `pid` runs as `nobody` for good: real, effective, saved and file-system
/// uid and gid are nobody's, its groups are nobody's, and no capability is left.
pub fn assert_dropped_to_nobody(pid: u32) {
    let (uid, gid, groups) = nobody();
    assert_eq!(
        status_field(pid, "Uid").unwrap(),
        format!("{uid} {uid} {uid} {uid}")
    );
    assert_eq!(
        status_field(pid, "Gid").unwrap(),
        format!("{gid} {gid} {gid} {gid}")
    );
    assert_eq!(groups_of(pid), groups);
    assert_eq!(status_field(pid, "CapEff").unwrap(), "0000000000000000");
    assert_eq!(status_field(pid, "CapPrm").unwrap(), "0000000000000000");
}

/// Fields of `/proc/PID/stat` that the tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
    pub session: u32,
    pub tty_nr: i32,
}

pub fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: f[0].chars().next()?,
        ppid: f[1].parse().ok()?,
        pgrp: f[2].parse().ok()?,
        session: f[3].parse().ok()?,
        tty_nr: f[4].parse().ok()?,
    })
}

/// A line of `/proc/PID/status`, e.g. `Uid`, without the key.
pub fn status_field(pid: u32, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The open descriptors of a process and what they point to.
pub fn fds(pid: u32) -> BTreeMap<i32, PathBuf> {
    let mut map = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for entry in dir.flatten() {
            if let (Ok(n), Ok(target)) = (
                entry.file_name().to_string_lossy().parse::<i32>(),
                std::fs::read_link(entry.path()),
            ) {
                map.insert(n, target);
            }
        }
    }
    map
}

/// The soft and hard limit of a resource, from `/proc/PID/limits` ("Max open files").
pub fn limit(pid: u32, name: &str) -> Option<(String, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    let f: Vec<&str> = line[name.len()..].split_whitespace().collect();
    Some((f[0].to_owned(), f[1].to_owned()))
}

/// PIDs of live processes whose command line contains `tag`.
pub fn tagged(tag: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(tag)
            && alive(pid)
        {
            pids.push(pid);
        }
    }
    pids
}

/// Direct children of a process (`/proc/PID/task/*/children`).
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                out.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<u32>().ok()),
                );
            }
        }
    }
    out
}

/// Reads a PID file once it holds a PID (it may be locked but still empty for a moment).
pub fn read_pid(path: &Path) -> u32 {
    let mut pid = None;
    wait_until(Duration::from_secs(5), || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    });
    pid.unwrap_or_else(|| panic!("{} never held a PID", path.display()))
}

/// A scratch directory plus a unique tag; on drop, SIGKILLs every live process whose command
/// line carries the tag (the directory's name), every PID registered with `adopt`, and all
/// their descendants.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub tag: String,
    pids: std::cell::RefCell<Vec<u32>>,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("pidward-run-test.")
            .tempdir()
            .unwrap();
        let tag = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        Scratch {
            dir,
            tag,
            pids: Default::default(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Kill this process too when the test ends.
    pub fn adopt(&self, pid: u32) {
        self.pids.borrow_mut().push(pid);
    }

    /// Live processes tagged with this scratch's tag.
    pub fn stray(&self) -> Vec<u32> {
        tagged(&self.tag)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let mut pids = tagged(&self.tag);
        pids.extend(self.pids.borrow().iter().copied());
        // And everything they started.
        let mut i = 0;
        while i < pids.len() {
            let kids = children(pids[i]);
            pids.extend(
                kids.into_iter()
                    .filter(|k| !pids.contains(k))
                    .collect::<Vec<_>>(),
            );
            i += 1;
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
