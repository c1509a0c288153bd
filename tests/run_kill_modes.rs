//! `pidward run` ends the whole tree with either mechanism: a cgroup of its own where it can
//! make one (root here), the subreaper and process groups otherwise (the same run as
//! `nobody`); `--kill-mode cgroup` insists on the cgroup, `--kill-mode group` ends the
//! command's process group only.

mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::run::*;

/// `pidward run ARGS` as `nobody` (no cgroup can be made): its output.
fn run_as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(exe())
        .arg("run")
        .args(args)
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap()
}

/// The `0::` line of the command's `/proc/self/cgroup`, as the script printed it.
fn cgroup_line(out: &Output) -> String {
    stdout(out)
        .lines()
        .find(|l| l.starts_with("0::"))
        .unwrap_or_default()
        .to_owned()
}

/// Where the cgroup v2 hierarchy is mounted.
fn cgroup2_mount() -> Option<std::path::PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mounts.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.starts_with("cgroup2 ")).then(|| left.split_whitespace().nth(4).unwrap().into())
    })
}

/// The script: a double-forked grandchild (re-parented away from the command), a setsid'd
/// one (another session and group), then the command reports its cgroup and exits 3.
fn leaving_orphans(tag: &str) -> String {
    let orphan = format!("perl -e 'sleep 30' {tag}");
    format!("({orphan} &); setsid {orphan} & sleep 0.3; cat /proc/self/cgroup; exit 3")
}

#[test]
fn the_tree_ends_in_its_cgroup_which_is_removed_after() {
    if !root_or_skip() || cgroup2_mount().is_none() {
        return;
    }
    let s = Scratch::new();
    let started = Instant::now();
    let (out, _) = run(&["--", "sh", "-c", &leaving_orphans(&s.tag)]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(4));
    let line = cgroup_line(&out);
    let name = line.strip_prefix("0::").unwrap();
    assert!(
        name.rsplit('/').next().unwrap().starts_with("pidward."),
        "not in a cgroup of its own: {line}"
    );
    assert!(s.stray().is_empty(), "orphans outlived it: {:?}", s.stray());
    let dir = cgroup2_mount().unwrap().join(name.trim_start_matches('/'));
    assert!(!dir.exists(), "{} was left behind", dir.display());

    // A TERM-proof orphan: TERM to every member, then cgroup.kill after the grace.
    let orphan = format!("perl -e '$SIG{{TERM}} = q(IGNORE); sleep 30' {}", s.tag);
    let script = format!("({orphan} &); sleep 0.3; exit 4");
    let started = Instant::now();
    let (out, _) = run(&[
        "--stop-schedule",
        "TERM/0.5/KILL/2",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert!(s.stray().is_empty(), "{:?}", s.stray());
}

/// A supervisor in a cgroup below the root (as a systemd service or a container is): its
/// run's cgroup is made in it, `cgroup.kill` (whose presence the supervisor checks on that
/// parent) ends a TERM-proof orphan after the grace, and the run's cgroup is removed after.
#[test]
fn in_a_nested_cgroup_the_tree_ends_in_a_cgroup_made_there() {
    if !root_or_skip() {
        return;
    }
    let Some(mount) = cgroup2_mount() else {
        return;
    };
    let s = Scratch::new();
    let nest_name = format!("pidward-test-nest-{}", std::process::id());
    let nest = mount.join(&nest_name);
    std::fs::create_dir(&nest).unwrap();
    let orphan = format!("perl -e '$SIG{{TERM}} = q(IGNORE); sleep 30' {}", s.tag);
    let script = format!("({orphan} &); sleep 0.3; cat /proc/self/cgroup; exit 4");
    let started = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"echo $$ > "$NEST/cgroup.procs" && exec "$PIDWARD" run -l none --stop-schedule TERM/0.5/KILL/2 -- sh -c "$SCRIPT""#)
        .env("NEST", &nest)
        .env("PIDWARD", exe())
        .env("SCRIPT", &script)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let took = started.elapsed();
    let left = std::fs::read_to_string(nest.join("cgroup.procs")).unwrap_or_default();
    let removed = std::fs::remove_dir(&nest);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let line = cgroup_line(&out);
    let prefix = format!("0::/{nest_name}/pidward.");
    assert!(
        line.starts_with(&prefix),
        "not in a cgroup of the nest: {line}"
    );
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert!(s.stray().is_empty(), "orphans outlived it: {:?}", s.stray());
    assert_eq!(left, "", "processes left in the nest");
    assert!(removed.is_ok(), "the nest kept a child cgroup: {removed:?}");
}

#[test]
fn without_a_cgroup_the_subreaper_ends_the_tree() {
    if !root_or_skip() {
        return;
    }
    let s = Scratch::new();
    let started = Instant::now();
    let out = run_as_nobody(&["--", "sh", "-c", &leaving_orphans(&s.tag)]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        !cgroup_line(&out).contains("pidward."),
        "{}",
        cgroup_line(&out)
    );
    assert!(s.stray().is_empty(), "orphans outlived it: {:?}", s.stray());
}

#[test]
fn kill_mode_cgroup_fails_the_start_where_no_cgroup_can_be_made() {
    if !root_or_skip() {
        return;
    }
    let out = run_as_nobody(&["--kill-mode", "cgroup", "--", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("cgroup"), "{}", stderr(&out));
    if cgroup2_mount().is_some() {
        let (out, _) = run(&[
            "--kill-mode",
            "cgroup",
            "--",
            "sh",
            "-c",
            "cat /proc/self/cgroup",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(cgroup_line(&out).contains("pidward."), "{}", stdout(&out));
    }
}

#[test]
fn kill_mode_group_ends_the_process_group_only() {
    let s = Scratch::new();
    let in_group = format!("perl -e 'sleep 30' {}-in", s.tag);
    let left = format!("perl -e 'sleep 30' {}-left", s.tag);
    // The double-forked one stays in the command's group; the setsid'd one left it.
    let script = format!(
        "({in_group} >/dev/null 2>&1 &); setsid {left} >/dev/null 2>&1 & sleep 0.3; exit 5"
    );
    let (out, _) = run(&["--kill-mode", "group", "--", "sh", "-c", &script]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        tagged(&format!("{}-in", s.tag)).is_empty(),
        "the group member survived"
    );
    assert_eq!(
        tagged(&format!("{}-left", s.tag)).len(),
        1,
        "the process outside the group should run on"
    );
}

#[test]
fn stop_of_the_supervisor_ends_a_tree_that_ignores_term_with_either_mechanism() {
    if !root_or_skip() {
        return;
    }
    for nobody in [false, true] {
        let s = Scratch::new();
        let orphan = format!("perl -e '$SIG{{TERM}} = q(IGNORE); sleep 30' {}", s.tag);
        let script = format!("({orphan} &); setsid {orphan} & sleep 30");
        let mut cmd = if nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(exe());
            c
        } else {
            pidward()
        };
        let mut pw = cmd
            .args([
                "run",
                "--stop-schedule",
                "TERM/0.5/KILL/2",
                "--",
                "sh",
                "-c",
                &script,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        s.adopt(pw.id());
        assert!(wait_until(Duration::from_secs(5), || s.stray().len() >= 2));
        // SAFETY: kill(2) of a process this test started.
        unsafe { libc::kill(pw.id() as i32, libc::SIGTERM) };
        let status = pw.wait().unwrap();
        assert_eq!(status.code(), Some(128 + 15), "nobody={nobody}");
        assert!(s.stray().is_empty(), "nobody={nobody}: {:?}", s.stray());
    }
}

/// A leftover `pidward.PID.0` (an earlier supervisor with this PID, killed before it could
/// remove its cgroup) neither costs the run its cgroup nor is touched: the run takes the next
/// number.
#[test]
fn a_leftover_cgroup_of_a_recycled_pid_is_stepped_over() {
    if !root_or_skip() || cgroup2_mount().is_none() {
        return;
    }
    let mount = cgroup2_mount().unwrap();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    let parent = mount.join(own.trim_start_matches('/'));
    // The shell makes the leftover under its own PID, then becomes pidward (same PID).
    let script =
        r#"mkdir "$1/pidward.$$.0" && echo "$$" && exec "$2" run -- cat /proc/self/cgroup"#;
    let out = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(&parent)
        .arg(exe())
        .env_remove("NOTIFY_SOCKET")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let text = stdout(&out);
    let pid = text.lines().next().unwrap_or_default().trim().to_owned();
    let leftover = parent.join(format!("pidward.{pid}.0"));
    let kept = leftover.is_dir();
    let _ = std::fs::remove_dir(&leftover);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(kept, "{} was removed", leftover.display());
    let line = cgroup_line(&out);
    assert!(
        line.ends_with(&format!("/pidward.{pid}.1")),
        "not in the next cgroup of its own: {line:?} (pid {pid})"
    );
    assert!(!parent.join(format!("pidward.{pid}.1")).exists());
}

/// The command is born in its cgroup (`clone3(CLONE_INTO_CGROUP)`); where the kernel refuses
/// that call (made to fail here with strace's fault injection, as on Linux before 5.3, or
/// before 5.7 with `EINVAL`), it joins the cgroup by writing to `cgroup.procs` instead, and
/// ends up in the same place.
#[test]
fn where_clone3_fails_the_command_joins_its_cgroup_by_writing() {
    if !root_or_skip() || cgroup2_mount().is_none() {
        return;
    }
    let direct = |errno: Option<&str>| {
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=clone3"]);
        if let Some(errno) = errno {
            cmd.arg("-e").arg(format!("inject=clone3:error={errno}"));
        }
        cmd.arg(exe())
            .args(["run", "--kill-mode", "cgroup", "--", "sh", "-c"])
            .arg("cat /proc/self/cgroup")
            .env_remove("NOTIFY_SOCKET")
            .output()
            .unwrap()
    };
    for errno in [None, Some("ENOSYS"), Some("EINVAL"), Some("E2BIG")] {
        let out = direct(errno);
        assert_eq!(out.status.code(), Some(0), "{errno:?}: {}", stderr(&out));
        let line = cgroup_line(&out);
        assert!(
            line.rsplit('/').next().unwrap().starts_with("pidward."),
            "{errno:?}: not in a cgroup of its own: {line}"
        );
    }
}
