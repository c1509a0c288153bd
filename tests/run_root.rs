//! `pidward run` as root: the command runs as `nobody` (and cannot get root back), inside a
//! chroot, with the umask and limits asked for, all checked in `/proc/PID`. The tests skip
//! with a note when not run as root.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::run::*;

/// Starts `pidward run -d ARGS -- COMMAND...` and returns the command's PID.
fn start_detached(s: &Scratch, args: &[&str], command: &[&str]) -> u32 {
    let child = s.path("child.pid");
    let out = pidward()
        .args([
            "run",
            "--daemon",
            "--child-pidfile",
            child.to_str().unwrap(),
        ])
        .args(args)
        .arg("--")
        .args(command)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pidward run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = read_pid(&child);
    s.adopt(pid);
    // The supervisor too (the command's parent).
    if let Some(st) = stat(pid) {
        s.adopt(st.ppid);
    }
    pid
}

#[test]
fn user_nobody_gets_nobodys_ids_and_groups() {
    if !root_or_skip() {
        return;
    }
    let s = Scratch::new();
    let pid = start_detached(
        &s,
        &["--user", "nobody"],
        &["sh", "-c", "sleep 30; :", &s.tag],
    );
    assert_dropped_to_nobody(pid);
    // The supervisor stays root (it must remove its PID files at the end).
    let sup = stat(pid).unwrap().ppid;
    assert_eq!(status_field(sup, "Uid").unwrap(), "0 0 0 0");
}

#[test]
fn user_and_group_give_exactly_that_group() {
    if !root_or_skip() {
        return;
    }
    let s = Scratch::new();
    let pid = start_detached(
        &s,
        &["-u", "nobody:daemon"],
        &["sh", "-c", "sleep 30; :", &s.tag],
    );
    let daemon = nix::unistd::Group::from_name("daemon")
        .unwrap()
        .unwrap()
        .gid
        .as_raw();
    assert_eq!(
        status_field(pid, "Gid").unwrap(),
        format!("{daemon} {daemon} {daemon} {daemon}")
    );
    assert_eq!(groups_of(pid), vec![daemon]);

    // -g alone changes the groups and keeps the user.
    let s = Scratch::new();
    let pid = start_detached(&s, &["-g", "daemon"], &["sh", "-c", "sleep 30; :", &s.tag]);
    assert_eq!(status_field(pid, "Uid").unwrap(), "0 0 0 0");
    assert_eq!(groups_of(pid), vec![daemon]);
}

#[test]
fn the_command_cannot_regain_root() {
    if !root_or_skip() {
        return;
    }
    let Some(perl) = ["/usr/bin/perl", "/bin/perl"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!("skipped: needs perl");
        return;
    };
    let out = pidward()
        .args(["run", "--user", "nobody", "--", perl, "-e"])
        .arg(
            r#"use POSIX; print "$< $>\n"; POSIX::setuid(0) and exit 10; POSIX::setgid(0) and exit 11; $> = 0; exit($> == 0 ? 12 : 0)"#,
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (uid, _, _) = nobody();
    assert_eq!(text.trim(), format!("{uid} {uid}"));
}

/// A minimal root directory with `sleep` and the shared libraries it needs (per `ldd`).
fn make_root(dir: &Path) -> PathBuf {
    let sleep = ["/usr/bin/sleep", "/bin/sleep"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("no sleep binary");
    let mut files = vec![sleep.clone()];
    let ldd = Command::new("ldd").arg(&sleep).output().unwrap();
    for token in String::from_utf8_lossy(&ldd.stdout).split_whitespace() {
        if token.starts_with('/') {
            files.push(PathBuf::from(token));
        }
    }
    for file in &files {
        let target = dir.join(file.strip_prefix("/").unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(file, &target).unwrap();
    }
    std::fs::create_dir_all(dir.join("srv/data")).unwrap();
    sleep
}

#[test]
fn chroot_and_chdir() {
    if !root_or_skip() {
        return;
    }
    let s = Scratch::new();
    let root = s.path("root");
    let sleep = make_root(&root);
    let pid = start_detached(
        &s,
        &[
            "--chroot",
            root.to_str().unwrap(),
            "-C",
            "/srv/data",
            "-u",
            "nobody",
        ],
        &[sleep.to_str().unwrap(), "30"],
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        root
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        root.join("srv/data")
    );
    // The program was found inside the new root.
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
        root.join(sleep.strip_prefix("/").unwrap())
    );

    // A command missing inside the root is not found, whatever exists outside it.
    let out = pidward()
        .args([
            "run",
            "--chroot",
            root.to_str().unwrap(),
            "--",
            "/bin/sh",
            "-c",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
}

#[test]
fn umask_and_rlimit_of_a_detached_command() {
    let s = Scratch::new();
    let pid = start_detached(
        &s,
        &["--umask", "027", "--rlimit", "nofile=64"],
        &["sh", "-c", "sleep 30; :", &s.tag],
    );
    assert_eq!(status_field(pid, "Umask").unwrap(), "0027");
    assert_eq!(
        limit(pid, "Max open files").unwrap(),
        ("64".into(), "64".into())
    );
}

/// Runs `pidward run ARGS` as `nobody` (through setpriv, from util-linux).
fn as_nobody(args: &[&str]) -> Option<std::process::Output> {
    let setpriv = Command::new("setpriv").arg("--version").output();
    if !is_root() || setpriv.is_err() {
        eprintln!("skipped: needs root and setpriv");
        return None;
    }
    let (uid, gid, _) = nobody();
    Some(
        Command::new("setpriv")
            .args([
                &format!("--reuid={uid}"),
                &format!("--regid={gid}"),
                "--clear-groups",
            ])
            .arg(exe())
            .arg("run")
            .args(args)
            .current_dir("/")
            .output()
            .unwrap(),
    )
}

#[test]
fn switching_to_the_current_user_is_a_warning() {
    let Some(out) = as_nobody(&["--user", "nobody", "--", "id", "-u"]) else {
        return;
    };
    let (uid, _, _) = nobody();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: already running as that user"),
        "{err}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), uid.to_string());

    // Root asking for root: a warning too, and the command runs.
    let out = pidward()
        .args(["run", "--user", "root", "--", "id", "-u"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: already running as uid 0"));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}

#[test]
fn switching_to_another_user_without_root_fails_before_starting() {
    let Some(out) = as_nobody(&["--user", "root", "--", "true"]) else {
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("user: cannot switch to uid 0"), "{err}");
    assert!(err.contains("is not root"), "{err}");
}
