//! A supervisor killed with `SIGKILL` leaves its run's cgroup behind with the rest of the tree
//! in it: `status` says so (4, with the PIDs), `run` refuses a second copy while they live,
//! `stop` names and stops them and removes the cgroup. A live supervisor is unaffected, and a
//! state file naming a cgroup that is not its run's is not believed.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use support::run::*;
use support::{alive, kill, wait_until};

/// `pidward ARGS`: its output.
fn pidward(args: &[&str]) -> Output {
    support::pidward()
        .args(args)
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap()
}

/// Starts, detached with readiness, a shell that declares itself ready and then runs a tagged
/// `perl` (not the main process: the supervisor's death signal does not reach it).
fn start(s: &Scratch, pidfile: &Path) -> Output {
    let script = format!(
        "{} notify --ready; perl -e 'sleep 61' {}",
        support::exe().display(),
        s.tag
    );
    let f = pidfile.to_str().unwrap();
    pidward(&[
        "run", "-d", "-p", f, "--ready", "notify", "--", "sh", "-c", &script,
    ])
}

/// The run's cgroup as its state file records it; `None` (and a printed reason) where no
/// cgroup could be made (no writable cgroup v2).
fn recorded_cgroup(pidfile: &Path) -> Option<PathBuf> {
    let state = std::fs::read_to_string(format!("{}.state", pidfile.display())).unwrap();
    let dir = state.lines().find_map(|l| l.strip_prefix("cgroup="));
    if dir.is_none() {
        // Skipped only where no run could have a cgroup; where this process can make one
        // beside its own, so can the supervisor, and a missing record is a failure.
        assert!(
            !cgroup_writable(),
            "this machine can make cgroups, but the run recorded none:\n{state}"
        );
        eprintln!("skipped: no cgroup v2 writable here (the run has no cgroup)");
    }
    dir.map(PathBuf::from)
}

/// Whether a cgroup can be made below this process's own (cgroup v2: the `cgroup2` mount
/// from `/proc/self/mountinfo`, the path from `/proc/self/cgroup`), found without pidward.
fn cgroup_writable() -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let Some(mount) = mounts.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        right
            .starts_with("cgroup2 ")
            .then(|| left.split(' ').nth(4))?
    }) else {
        return false;
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(own) = own.lines().find_map(|l| l.strip_prefix("0::")) else {
        return false;
    };
    let probe = Path::new(mount)
        .join(own.trim_start_matches('/'))
        .join(format!("pidward-test-probe.{}", std::process::id()));
    let made = std::fs::create_dir(&probe).is_ok();
    let _ = std::fs::remove_dir(&probe);
    made
}

/// The tagged `perl` processes (the service's leftover, once the supervisor is killed).
fn perls(s: &Scratch) -> Vec<u32> {
    let is_perl = |pid: &u32| {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"perl\0"))
    };
    s.stray().into_iter().filter(is_perl).collect()
}

fn status_json(pidfile: &Path) -> (Option<i32>, serde_json::Value) {
    let out = pidward(&["status", "--json", pidfile.to_str().unwrap()]);
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

#[test]
fn leftovers_are_reported_refused_and_stopped() {
    if !root_or_skip() {
        return;
    }
    let s = Scratch::new();
    let pf = s.path("svc.pid");
    let f = pf.to_str().unwrap();
    let out = start(&s, &pf);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let Some(cgroup) = recorded_cgroup(&pf) else {
        pidward(&["stop", f]);
        return;
    };
    let supervisor = read_pid(&pf);
    assert!(wait_until(Duration::from_secs(10), || !perls(&s).is_empty()));
    let left = perls(&s);
    kill(supervisor, libc::SIGKILL);

    // status: stale, with the leftover named; 4.
    wait_until(Duration::from_secs(10), || status_json(&pf).0 == Some(4));
    let (code, json) = status_json(&pf);
    assert_eq!(
        code,
        Some(4),
        "{json}; left: {left:?}; stray now: {:?}",
        s.stray()
    );
    assert_eq!(json["state"], "stale", "{json}");
    let listed: Vec<u32> = serde_json::from_value(json["leftover_pids"].clone()).unwrap();
    assert!(
        left.iter().all(|p| listed.contains(p)),
        "{left:?} not in {json}"
    );
    assert_eq!(json["leftover_cgroup"], cgroup.display().to_string());
    let out = pidward(&["status", f]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stdout(&out).contains(&left[0].to_string()),
        "{}",
        stdout(&out)
    );

    // run: a second copy is refused, the files stay as they were.
    let (before, state_before) = (
        std::fs::read(&pf).unwrap(),
        std::fs::read(s.path("svc.pid.state")),
    );
    let out = start(&s, &pf);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for needle in [f.to_owned(), supervisor.to_string(), left[0].to_string()] {
        assert!(err.contains(&needle), "{needle} not in: {err}");
    }
    assert!(err.contains("pidward stop"), "{err}");
    assert_eq!(std::fs::read(&pf).unwrap(), before);
    assert_eq!(
        std::fs::read(s.path("svc.pid.state")).ok(),
        state_before.ok()
    );
    assert_eq!(perls(&s), left, "a second copy started");

    // stop: names and stops them, removes the cgroup; exit 0.
    let out = pidward(&["stop", f]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&left[0].to_string()), "{err}");
    assert!(left.iter().all(|&p| !alive(p)));
    assert!(perls(&s).is_empty());
    assert!(!cgroup.exists(), "{} is still there", cgroup.display());
    assert_eq!(pidward(&["status", f]).status.code(), Some(1));

    // A new start now succeeds, and is stopped as usual.
    let out = start(&s, &pf);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(pidward(&["status", f]).status.code(), Some(0));
    assert_eq!(pidward(&["stop", f]).status.code(), Some(0));
    assert!(wait_until(Duration::from_secs(10), || s.stray().is_empty()));
}

#[test]
fn a_live_supervisor_is_unaffected() {
    if !root_or_skip() {
        return;
    }
    let s = Scratch::new();
    let pf = s.path("svc.pid");
    let f = pf.to_str().unwrap();
    let out = start(&s, &pf);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (code, json) = status_json(&pf);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["leftover_pids"], serde_json::json!([]));
    let out = start(&s, &pf);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !stderr(&out).contains("not starting a second copy"),
        "{}",
        stderr(&out)
    );
    let out = pidward(&["stop", f]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("left"), "{}", stderr(&out));
    assert!(wait_until(Duration::from_secs(10), || s.stray().is_empty()));
}

/// A dead PID, for a stale PID file.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn a_state_file_naming_another_cgroup_is_not_believed() {
    if !root_or_skip() {
        return;
    }
    let Ok(own) = std::fs::read_to_string("/proc/self/cgroup") else {
        return;
    };
    let s = Scratch::new();
    let pf = s.path("svc.pid");
    let f = pf.to_str().unwrap();
    let pid = dead_pid();
    // This test's own cgroup (it holds this process), then a symlink to it with a run's name.
    let Some(mount) = cgroup2_mount() else {
        eprintln!("skipped: no cgroup v2");
        return;
    };
    let mine = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    let mine = mount.join(mine.trim_start_matches('/'));
    let link = s.path(&format!("pidward.{pid}.0"));
    std::os::unix::fs::symlink(&mine, &link).unwrap();
    for dir in [mine.clone(), link.clone()] {
        std::fs::write(&pf, format!("{pid}\n")).unwrap();
        let state = format!(
            "pidward-state 1\nstate=running\nsupervisor={pid}\nsince=2026-01-01T00:00:00.000Z\n\
             policy=no\nrestarts=0\nconsecutive_failures=0\ntree=cgroup\ncgroup={}\nend\n",
            dir.display()
        );
        std::fs::write(s.path("svc.pid.state"), state).unwrap();
        let (code, json) = status_json(&pf);
        assert_eq!(code, Some(1), "{json}");
        assert_eq!(json["leftover_pids"], serde_json::json!([]));
        let out = pidward(&["stop", f]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stderr(&out).contains("nothing to stop"), "{}", stderr(&out));
    }
    assert!(mine.exists());
}

/// Where the cgroup v2 hierarchy is mounted.
fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mounts.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.starts_with("cgroup2 ")).then(|| left.split_whitespace().nth(4).unwrap().into())
    })
}

#[test]
fn a_state_file_without_a_cgroup_still_reads() {
    let old = "pidward-state 1\nstate=running\nsupervisor=7\nsince=2026-01-01T00:00:00.000Z\n\
               policy=no\nrestarts=0\nconsecutive_failures=0\ntree=subreaper\nend\n";
    let state = pidward::supervise::State::decode(old).expect("an old file reads");
    assert_eq!(state.cgroup, None);
    let mut new = state.clone();
    new.cgroup = Some("/sys/fs/cgroup/pidward.7.0".into());
    assert!(
        new.encode()
            .contains("\ncgroup=/sys/fs/cgroup/pidward.7.0\n")
    );
    assert_eq!(pidward::supervise::State::decode(&new.encode()), Some(new));
}

#[test]
fn a_state_file_names_its_supervisor_and_time_or_is_not_read() {
    use pidward::supervise::State;
    let whole = "pidward-state 1\nstate=running\nsupervisor=7\nsince=2026-01-01T00:00:00.000Z\n\
                 policy=no\nrestarts=0\nconsecutive_failures=0\ntree=subreaper\nend\n";
    let state = State::decode(whole).expect("a whole file reads");
    assert_eq!(state.supervisor, 7);
    assert_eq!(
        state.since,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600)
    );
    // Without either line the file says nothing of who wrote it, or when: not the reader.
    for line in ["supervisor=7\n", "since=2026-01-01T00:00:00.000Z\n"] {
        let cut = whole.replace(line, "");
        assert_eq!(State::decode(&cut), None, "{cut}");
    }
}
