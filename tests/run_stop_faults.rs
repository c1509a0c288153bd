//! `pidward run` and `pidward stop` under injected faults in the supervision loop and the stop
//! path (strace injects them, as the fault sweep does): a failing `pidfd_send_signal(2)`,
//! `signalfd4(2)`, `read(2)` of the signalfd, `ppoll(2)`, or write to `cgroup.kill` is tried
//! again, and a stop carries on to `SIGKILL`. When the run ends, nothing of the service is
//! left running, or, when something is (every way to kill it failed), the PID file and its
//! state file stay, `run` exits 125 naming the call, `status` says 4 and why, and `stop`
//! ends what is left.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
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

/// `strace -f` injecting `inject` (one `-e inject=` each) into `pidward ARGS`, spawned.
fn spawn_under(inject: &[&str], args: &[&str]) -> Child {
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-o", "/dev/null"]);
    for i in inject {
        cmd.arg("-e").arg(format!("inject={i}"));
    }
    cmd.arg(support::exe())
        .args(args)
        .env_remove("NOTIFY_SOCKET")
        .stderr(Stdio::piped())
        .spawn()
        .expect("strace runs (the CI installs it)")
}

/// `pidward run -p F -- perl -e 'sleep 61' TAG` under `inject`, with `extra` options: the
/// child, once F names the supervisor.
fn start(s: &Scratch, pidfile: &Path, inject: &[&str], extra: &[&str]) -> (Child, u32) {
    let f = pidfile.to_str().unwrap();
    let mut args = vec!["run", "-p", f];
    args.extend_from_slice(extra);
    args.extend(["--", "perl", "-e", "sleep 61", &s.tag]);
    let child = spawn_under(inject, &args);
    let supervisor = read_pid(pidfile);
    s.adopt(supervisor);
    (child, supervisor)
}

/// The child's exit code and standard error, within a generous window.
fn finish(mut child: Child) -> (Option<i32>, String) {
    let ended = wait_until(Duration::from_secs(40), || {
        child.try_wait().ok().flatten().is_some()
    });
    if !ended {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(ended, "the run did not end: {}", stderr(&out));
    (out.status.code(), stderr(&out))
}

/// The tagged `perl` processes still alive (the service).
fn perls(s: &Scratch) -> Vec<u32> {
    let is_perl = |pid: &u32| {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"perl\0"))
    };
    s.stray().into_iter().filter(is_perl).collect()
}

/// The `cgroup=` the state file beside `pidfile` records (the run has a cgroup of its own).
fn recorded_cgroup(pidfile: &Path) -> Option<PathBuf> {
    let state = std::fs::read_to_string(format!("{}.state", pidfile.display())).ok()?;
    state
        .lines()
        .find_map(|l| l.strip_prefix("cgroup="))
        .map(PathBuf::from)
}

/// The `cgroup2` directory of this process (the supervisor's parent cgroup: the supervisor
/// stays in the cgroup it was started in), from `/proc/self/mountinfo` and `/proc/self/cgroup`.
fn own_cgroup_dir() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mounts.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        right
            .starts_with("cgroup2 ")
            .then(|| left.split(' ').nth(4))?
            .map(str::to_owned)
    })?;
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|l| l.strip_prefix("0::"))?.to_owned();
    Some(Path::new(&mount).join(own.trim_start_matches('/')))
}

/// Whether runs here get a cgroup of their own (root with a writable cgroup v2); a test that
/// needs one says it skipped.
fn cgroups_or_skip() -> bool {
    let writable = own_cgroup_dir().is_some_and(|dir| {
        let probe = dir.join(format!("pidward-test-probe.{}", std::process::id()));
        let made = std::fs::create_dir(&probe).is_ok();
        let _ = std::fs::remove_dir(&probe);
        made
    });
    if !writable {
        eprintln!("skipped: no cgroup v2 writable here (a run has no cgroup of its own)");
    }
    writable
}

#[test]
fn a_forwarded_stop_whose_signal_fails_once_is_sent_again() {
    let s = Scratch::new();
    let f = s.path("F");
    let (child, supervisor) = start(&s, &f, &["pidfd_send_signal:error=EIO:when=1"], &[]);
    assert!(wait_until(Duration::from_secs(10), || !perls(&s).is_empty()));
    kill(supervisor, libc::SIGTERM);
    let (code, err) = finish(child);
    // perl died of the forwarded TERM: 128 + 15, as without the fault.
    assert_eq!(code, Some(143), "{err}");
    assert!(perls(&s).is_empty(), "left running: {:?}", perls(&s));
    assert!(!f.exists());
}

#[test]
fn a_stop_whose_signals_all_fail_goes_on_to_cgroup_kill() {
    if !cgroups_or_skip() {
        return;
    }
    let s = Scratch::new();
    let f = s.path("F");
    let (child, supervisor) = start(
        &s,
        &f,
        &["pidfd_send_signal:error=EIO:when=1+"],
        &["--stop-schedule", "TERM/1/KILL/5"],
    );
    assert!(wait_until(Duration::from_secs(10), || !perls(&s).is_empty()));
    kill(supervisor, libc::SIGTERM);
    let (code, err) = finish(child);
    // Nothing is left, yet the supervisor failed at its job: 125, naming the call.
    assert_eq!(code, Some(125), "{err}");
    assert!(
        err.contains("pidfd_send_signal: Input/output error"),
        "{err}"
    );
    assert!(perls(&s).is_empty(), "left running: {:?}", perls(&s));
    assert!(!f.exists(), "the PID file of a service that is gone stays");
}

#[test]
fn a_signalfd_that_cannot_be_made_after_the_spawn_kills_the_command() {
    let s = Scratch::new();
    let f = s.path("F");
    let fs = f.to_str().unwrap();
    let child = spawn_under(
        &["signalfd4:error=ENOMEM:when=1+"],
        &["run", "-p", fs, "--", "perl", "-e", "sleep 61", &s.tag],
    );
    let (code, err) = finish(child);
    assert_eq!(code, Some(125), "{err}");
    assert!(
        err.contains("setting up signal forwarding: Cannot allocate memory"),
        "{err}"
    );
    assert!(perls(&s).is_empty(), "left running: {:?}", perls(&s));
    assert!(!f.exists());
}

#[test]
fn a_signalfd_that_fails_once_is_made_again() {
    let s = Scratch::new();
    let f = s.path("F");
    let child = spawn_under(
        &["signalfd4:error=ENOMEM:when=1"],
        &["run", "-p", f.to_str().unwrap(), "--", "sh", "-c", "exit 3"],
    );
    let (code, err) = finish(child);
    assert_eq!(code, Some(3), "{err}");
    assert!(!f.exists());
}

#[test]
fn a_signalfd_that_cannot_be_read_stops_the_service() {
    let s = Scratch::new();
    let f = s.path("F");
    // Only the reads of the signalfd fail (-P: the calls on that descriptor).
    let fs = f.to_str().unwrap();
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-qq",
        "-o",
        "/dev/null",
        "-P",
        "anon_inode:[signalfd]",
    ])
    .args(["-e", "inject=read:error=EIO"])
    .arg(support::exe())
    .args(["run", "-p", fs, "--stop-schedule", "TERM/5/KILL/5"])
    .args(["--", "perl", "-e", "sleep 61", &s.tag])
    .env_remove("NOTIFY_SOCKET")
    .stderr(Stdio::piped());
    let child = cmd.spawn().expect("strace runs");
    let supervisor = read_pid(&f);
    s.adopt(supervisor);
    assert!(wait_until(Duration::from_secs(10), || !perls(&s).is_empty()));
    // A signal that comes before the signalfd is recorded and forwarded without a read.
    let has_signalfd = || {
        fds(supervisor)
            .values()
            .any(|p| p.as_os_str() == "anon_inode:[signalfd]")
    };
    assert!(wait_until(Duration::from_secs(10), has_signalfd));
    kill(supervisor, libc::SIGHUP);
    let (code, err) = finish(child);
    assert_eq!(code, Some(125), "{err}");
    assert!(
        err.contains("reading the signalfd: Input/output error"),
        "{err}"
    );
    assert!(perls(&s).is_empty(), "left running: {:?}", perls(&s));
    assert!(!f.exists());
}

#[test]
fn a_poll_that_keeps_failing_still_supervises_and_stops() {
    let s = Scratch::new();
    let f = s.path("F");
    let (child, supervisor) = start(&s, &f, &["ppoll:error=ENOMEM:when=1+"], &[]);
    assert!(wait_until(Duration::from_secs(10), || !perls(&s).is_empty()));
    // Without poll(2) the loop still reads its signals: TERM is forwarded, and perl's death
    // by it is the run's end, stop included.
    kill(supervisor, libc::SIGTERM);
    let (code, err) = finish(child);
    assert_eq!(code, Some(143), "{err}");
    assert!(perls(&s).is_empty(), "left running: {:?}", perls(&s));
    assert!(!f.exists());
}

#[test]
fn a_poll_that_fails_once_is_retried() {
    let s = Scratch::new();
    let f = s.path("F");
    let (child, supervisor) = start(&s, &f, &["ppoll:error=ENOMEM:when=1"], &[]);
    assert!(wait_until(Duration::from_secs(10), || !perls(&s).is_empty()));
    // Still supervising: a TERM is forwarded, and perl's death is the run's end.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(perls(&s).len(), 1);
    kill(supervisor, libc::SIGTERM);
    let (code, err) = finish(child);
    assert_eq!(code, Some(143), "{err}");
    assert!(perls(&s).is_empty());
}

/// A run whose every way to end its service fails: `pidfd_send_signal(2)` and the write to
/// `cgroup.kill`. strace attaches to a shell that then executes pidward (same PID), so that
/// `-P` can name the run's cgroup (`pidward.PID.0`) before it exists.
#[test]
fn a_supervisor_that_gave_up_keeps_its_pidfile_status_says_4_and_stop_ends_the_rest() {
    if !cgroups_or_skip() {
        return;
    }
    let s = Scratch::new();
    let f = s.path("F");
    let fs = f.to_str().unwrap();
    // perl is the command's child: the supervisor's death signal reaches the command only.
    // (Its output goes elsewhere: it outlives the run, and must not hold the run's stderr.)
    let script = format!(
        "read go; exec {} run -p {fs} --stop-schedule TERM/1/KILL/2 -- \
         sh -c \"perl -e 'sleep 61' {} >/dev/null 2>&1 & wait\"",
        support::exe().display(),
        s.tag
    );
    // Its stderr to a file: what it leaves running may hold a pipe open after it exits.
    let err_path = s.path("run.err");
    let mut shell = Command::new("sh")
        .args(["-c", &script])
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::piped())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let pid = shell.id();
    s.adopt(pid);
    let kill_file = own_cgroup_dir()
        .unwrap()
        .join(format!("pidward.{pid}.0/cgroup.kill"));
    let mut strace = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-p", &pid.to_string()])
        .arg("-P")
        .arg(&kill_file)
        .args(["-P", "anon_inode:[pidfd]"])
        .args(["-e", "inject=write:error=EIO"])
        .args(["-e", "inject=pidfd_send_signal:error=EIO"])
        .spawn()
        .unwrap();
    let traced = wait_until(Duration::from_secs(10), || {
        status_field(pid, "TracerPid").is_some_and(|t| t.trim() != "0")
    });
    assert!(traced, "strace did not attach");
    shell.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(wait_until(Duration::from_secs(10), || perls(&s).len() == 1));
    let perl = perls(&s)[0];
    kill(pid, libc::SIGTERM);
    // The run's last word; then strace goes (it follows what is left, and the exit of a
    // process it traces reaches the parent only once strace has seen it).
    let ended = wait_until(Duration::from_secs(40), || {
        std::fs::read_to_string(&err_path).is_ok_and(|e| e.contains("pidward run: "))
    });
    let _ = strace.kill();
    let _ = strace.wait();
    let err = std::fs::read_to_string(&err_path).unwrap();
    assert!(ended, "the run did not end: {err}");
    let code = shell.wait().unwrap().code();

    // run: 125, naming the call, the errno and what is left.
    assert_eq!(code, Some(125), "{err}");
    assert!(
        err.contains("pidfd_send_signal: Input/output error")
            && err.contains("gave up")
            && err.contains(&perl.to_string()),
        "{err}"
    );
    assert!(
        alive(perl),
        "the fault was not injected: nothing was left: {err}"
    );
    // The files that name what is left stay.
    assert!(
        f.exists(),
        "the PID file was removed while its service runs"
    );
    let state = std::fs::read_to_string(format!("{fs}.state")).unwrap();
    assert!(
        state.contains("state=abandoned") && state.contains("gave_up=pidfd_send_signal"),
        "{state}"
    );
    let cgroup = recorded_cgroup(&f).expect("the run had a cgroup");

    // status: 4, unknown, with the reason and the PID.
    let out = pidward(&["status", fs]);
    let line = stdout(&out);
    assert_eq!(out.status.code(), Some(4), "{line}");
    // What is left includes perl (the command itself may still be dying of the supervisor's
    // death signal, a SIGKILL sent as the supervisor exited, on a busy machine).
    let left: Vec<u32> = line
        .split_once("left running: PIDs ")
        .and_then(|(_, rest)| rest.split_once(" in "))
        .map(|(pids, _)| pids.split(", ").filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default();
    assert!(
        line.contains("the supervisor gave up (pidfd_send_signal") && left.contains(&perl),
        "{line}"
    );
    // A second start is refused while they live.
    let again = pidward(&["run", "-p", fs, "--", "true"]);
    assert_ne!(again.status.code(), Some(0), "{}", stderr(&again));

    // stop: kills them through the cgroup, names them, exits 0.
    let out = pidward(&["stop", "-R", "TERM/2/KILL/5", fs]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("gave up") && err.contains(&perl.to_string()),
        "{err}"
    );
    assert!(wait_until(Duration::from_secs(5), || !alive(perl)));
    assert!(!cgroup.exists(), "the emptied cgroup stays");
    // Nothing left: the file's own answer, stale.
    let out = pidward(&["status", fs]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("nothing of it is left now"));
}

/// `pidward stop F` of a detached run under faults of its own.
fn stop_under(inject: &str, pidfile: &Path) -> Output {
    Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("inject={inject}"))
        .arg(support::exe())
        .args(["stop", "-R", "TERM/2/KILL/2"])
        .arg(pidfile)
        .output()
        .expect("strace runs")
}

fn start_detached(s: &Scratch, pidfile: &Path) -> u32 {
    let out = pidward(&[
        "run",
        "-d",
        "-p",
        pidfile.to_str().unwrap(),
        "--",
        "perl",
        "-e",
        "sleep 61",
        &s.tag,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let supervisor = read_pid(pidfile);
    s.adopt(supervisor);
    assert!(wait_until(Duration::from_secs(10), || !perls(s).is_empty()));
    supervisor
}

#[test]
fn stop_sends_again_a_signal_that_fails_once() {
    let s = Scratch::new();
    let f = s.path("F");
    let supervisor = start_detached(&s, &f);
    let out = stop_under("pidfd_send_signal:error=EIO:when=1", &f);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!alive(supervisor));
    assert!(wait_until(Duration::from_secs(5), || perls(&s).is_empty()));
}

#[test]
fn stop_whose_poll_keeps_failing_still_waits_and_answers() {
    let s = Scratch::new();
    let f = s.path("F");
    let supervisor = start_detached(&s, &f);
    let out = stop_under("ppoll:error=ENOMEM:when=1+", &f);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!alive(supervisor));
    assert!(wait_until(Duration::from_secs(5), || perls(&s).is_empty()));
}

#[test]
fn stop_whose_signals_all_fail_says_4_after_the_whole_schedule() {
    let s = Scratch::new();
    let f = s.path("F");
    let supervisor = start_detached(&s, &f);
    let out = stop_under("pidfd_send_signal:error=EIO:when=1+", &f);
    let err = stderr(&out);
    // Not 0: the service runs; the message names the signal and the error.
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("cannot send TERM") && err.contains("Input/output error"),
        "{err}"
    );
    assert!(alive(supervisor));
    // Without the fault, the next stop ends it.
    let out = pidward(&["stop", "-R", "TERM/5/KILL/5", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(wait_until(Duration::from_secs(5), || perls(&s).is_empty()));
}
