//! Credentials, umask, resource limits, session and process group, working directory: set in
//! the child, checked through /proc/<pid>, and the parent left unchanged. Runs as root.
#![cfg(feature = "process")]

use pidward::child::{Resource, Rlimit};
use pidward::process::Command;

/// The value of `field` in /proc/<pid>/status.
fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_owned()
}

fn self_status_field(field: &str) -> String {
    status_field(std::process::id(), field)
}

/// Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, session, ...
fn stat_fields(pid: u32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit_once(") ")
        .unwrap()
        .1
        .split(' ')
        .map(str::to_owned)
        .collect()
}

fn require_root() {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test proves privilege changes and must run as root"
    );
}

#[tokio::test]
async fn uid_gid_and_groups_change_in_the_child_only() {
    require_root();
    let parent_before = (
        self_status_field("Uid"),
        self_status_field("Gid"),
        self_status_field("Groups"),
    );
    let mut child = Command::new("sleep")
        .arg("30")
        .uid(65534)
        .gid(65533)
        .groups(&[65534, 100, 4])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    assert_eq!(status_field(pid, "Uid"), "65534\t65534\t65534\t65534");
    assert_eq!(status_field(pid, "Gid"), "65533\t65533\t65533\t65533");
    let mut groups: Vec<u32> = status_field(pid, "Groups")
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect();
    groups.sort();
    assert_eq!(groups, [4, 100, 65534]);
    child.kill().await.unwrap();

    let parent_after = (
        self_status_field("Uid"),
        self_status_field("Gid"),
        self_status_field("Groups"),
    );
    assert_eq!(parent_before, parent_after);
    assert_eq!(parent_after.0, "0\t0\t0\t0");
}

#[tokio::test]
async fn dropping_to_a_user_clears_roots_groups() {
    require_root();
    // SAFETY: setgroups in this test process (its own process under nextest) so that root has
    // a supplementary group the child must not keep.
    assert_eq!(unsafe { libc::setgroups(1, [27u32].as_ptr()) }, 0);
    let mut child = Command::new("sleep")
        .arg("30")
        .uid(65534)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    assert_eq!(status_field(pid, "Uid"), "65534\t65534\t65534\t65534");
    assert_eq!(status_field(pid, "Groups"), "");
    assert_eq!(
        status_field(pid, "Gid"),
        "0\t0\t0\t0",
        "gid is kept unless given"
    );
    child.kill().await.unwrap();
    assert_eq!(self_status_field("Groups"), "27");
}

#[tokio::test]
async fn umask_rlimit_session_group_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new("sleep")
        .arg("30")
        .umask(0o027)
        .rlimit(Rlimit::new(Resource::NOFILE, Some(64), Some(128)).unwrap())
        .rlimit(Rlimit::new(Resource::CORE, Some(0), None).unwrap())
        .setsid(true)
        .current_dir(dir.path())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    assert_eq!(status_field(pid, "Umask"), "0027");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = |name: &str| {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line("Max open files"), "Max open files 64 128 files");
    assert_eq!(
        line("Max core file size"),
        "Max core file size 0 unlimited bytes"
    );
    let stat = stat_fields(pid);
    assert_eq!(stat[2], pid.to_string(), "process group");
    assert_eq!(stat[3], pid.to_string(), "session");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        dir.path().canonicalize().unwrap()
    );
    child.kill().await.unwrap();

    // A new process group without a new session.
    let mut child = Command::new("sleep")
        .arg("30")
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stat = stat_fields(child.id().unwrap());
    let ours = stat_fields(std::process::id());
    assert_eq!(stat[2], child.id().unwrap().to_string());
    assert_eq!(stat[3], ours[3], "same session as the parent");
    child.kill().await.unwrap();

    // The parent's own umask is untouched (umask(2) can only be read by setting it).
    // SAFETY: set and immediately restore.
    let mask = unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    };
    assert_ne!(mask, 0o027);
}

#[tokio::test]
async fn a_named_user_brings_its_groups_and_a_named_group_is_the_only_one() {
    require_root();
    let mut child = Command::new("sleep")
        .arg("30")
        .user("nobody")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let (uid, gid) = (nobody.uid.as_raw(), nobody.gid.as_raw());
    let pid = child.id().unwrap();
    assert_eq!(
        status_field(pid, "Uid"),
        format!("{uid}\t{uid}\t{uid}\t{uid}")
    );
    assert_eq!(
        status_field(pid, "Gid"),
        format!("{gid}\t{gid}\t{gid}\t{gid}")
    );
    assert!(
        status_field(pid, "Groups")
            .split_whitespace()
            .any(|g| g == gid.to_string())
    );
    child.kill().await.unwrap();

    let mut child = Command::new("sleep")
        .arg("30")
        .user("nobody")
        .group("0")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    assert_eq!(status_field(child.id().unwrap(), "Groups"), "0");
    child.kill().await.unwrap();

    let err = Command::new("true")
        .user("pidward-no-such-user")
        .spawn()
        .unwrap_err();
    assert!(
        matches!(err, pidward::process::Error::Credentials { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("pidward-no-such-user"), "{err}");
}

#[tokio::test]
async fn a_child_that_could_regain_root_does_not_start() {
    require_root();
    // With SECBIT_NO_SETUID_FIXUP the kernel keeps the capabilities of a process that gives
    // up uid 0, so setuid(0) would succeed after the switch: the set-up must refuse to exec.
    const SECBIT_NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;
    // SAFETY: prctl(2) on this test process (nextest runs each test in its own process).
    let r = unsafe { libc::prctl(libc::PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0) };
    assert_eq!(
        r,
        0,
        "PR_SET_SECUREBITS: {}",
        std::io::Error::last_os_error()
    );
    for cmd in [
        Command::new("true").uid(65534).gid(65534),
        Command::new("true").user("nobody"),
    ] {
        match cmd.spawn() {
            Err(pidward::process::Error::Spawn { step, .. }) => {
                assert_eq!(step, pidward::child::Step::RegainRoot)
            }
            other => panic!("expected a regain-root failure, got {other:?}"),
        }
    }
}
