//! The `Daemon` builder as root: privilege drop, effective-only ids, chroot, limits. Each
//! test runs `examples/daemon_demo.rs` and inspects the detached process in `/proc`. They
//! skip (with a note) when not run as root.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::run::*;

fn start(s: &Scratch, args: &[&str]) -> u32 {
    let pidfile = s.path("demo.pid");
    let out = Command::new(example("daemon_demo"))
        .args(["--pidfile", pidfile.to_str().unwrap(), "--tag", &s.tag])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "launcher failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = read_pid(&pidfile);
    s.adopt(pid);
    pid
}

#[test]
fn drops_to_nobody_with_its_groups_for_good() {
    if !root_or_skip() {
        return;
    }
    let s = Scratch::new();
    let pid = start(&s, &["--user", "nobody"]);
    assert_dropped_to_nobody(pid);
}

#[test]
fn a_named_group_is_the_only_group() {
    if !root_or_skip() {
        return;
    }
    let s = Scratch::new();
    let pid = start(&s, &["--user", "nobody", "--group", "daemon"]);
    let daemon_gid = nix::unistd::Group::from_name("daemon")
        .unwrap()
        .expect("no group daemon")
        .gid
        .as_raw();
    assert_eq!(
        status_field(pid, "Gid").unwrap(),
        format!("{daemon_gid} {daemon_gid} {daemon_gid} {daemon_gid}")
    );
    assert_eq!(groups_of(pid), vec![daemon_gid]);
}

#[test]
fn effective_only_keeps_the_real_and_saved_ids() {
    if !root_or_skip() {
        return;
    }
    let s = Scratch::new();
    let pid = start(&s, &["--user", "nobody", "--euid"]);
    let (uid, gid, _) = nobody();
    // Real, effective, saved, filesystem.
    assert_eq!(
        status_field(pid, "Uid").unwrap(),
        format!("0 {uid} 0 {uid}")
    );
    assert_eq!(
        status_field(pid, "Gid").unwrap(),
        format!("0 {gid} 0 {gid}")
    );
}

#[test]
fn chroot_and_working_directory() {
    if !root_or_skip() {
        return;
    }
    let s = Scratch::new();
    let root = s.path("root");
    std::fs::create_dir_all(root.join("srv/data")).unwrap();
    let pid = start(
        &s,
        &["--chroot", root.to_str().unwrap(), "--chdir", "/srv/data"],
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        root
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        root.join("srv/data")
    );
}

#[test]
fn chroot_alone_moves_into_the_new_root() {
    if !root_or_skip() {
        return;
    }
    let s = Scratch::new();
    let root = s.path("root");
    std::fs::create_dir_all(&root).unwrap();
    let pid = start(&s, &["--chroot", root.to_str().unwrap()]);
    // Never left outside the new root: the working directory is its top.
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        root
    );
}

#[test]
fn umask_and_resource_limits() {
    let s = Scratch::new();
    let pid = start(
        &s,
        &[
            "--umask",
            "027",
            "--rlimit",
            "nofile=64",
            "--rlimit",
            "core=0:1024",
        ],
    );
    assert_eq!(status_field(pid, "Umask").unwrap(), "0027");
    assert_eq!(
        limit(pid, "Max open files").unwrap(),
        ("64".into(), "64".into())
    );
    assert_eq!(
        limit(pid, "Max core file size").unwrap(),
        ("0".into(), "1024".into())
    );
}

#[test]
fn pid_file_out_of_reach_after_the_drop_is_left_unlocked() {
    if !root_or_skip() {
        return;
    }
    let s = Scratch::new();
    // The scratch directory is root's and 0700: nobody cannot unlink in it.
    let pidfile = s.path("demo.pid");
    let pid = start(&s, &["--user", "nobody", "--linger", "0.3"]);
    assert!(wait_until(Duration::from_secs(5), || !alive(pid)));
    // The removal failed (logged, not fatal), but the lock went with the process, so the
    // file reads as stale rather than running.
    assert!(pidfile.exists());
    let status = pidward::pidfile::status(&pidfile);
    assert!(!status.is_running(), "{status:?}");
    // A new start takes it over.
    let again = start(&s, &["--linger", "30"]);
    assert_ne!(again, pid);
    assert!(Path::new(&format!("/proc/{again}")).exists());
}
