//! The supervisor run loop (`pidward::supervise`), driven in its own process through
//! `examples/supervise_demo.rs`: a process that blocks signals and forks must not be the
//! multithreaded test harness.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// `target/<profile>/examples/supervise_demo`, built (or brought up to date) once per process
/// with this test's profile and features: a filtered run (`--test`) does not build examples.
fn demo_path() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let target_dir = profile_dir.parent().unwrap();
    BUILT.call_once(|| {
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args([
                "build",
                "--quiet",
                "--example",
                "supervise_demo",
                "--target-dir",
            ])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        match profile_dir.file_name().unwrap().to_str().unwrap() {
            "debug" => {}
            "release" => {
                cargo.arg("--release");
            }
            other => {
                cargo.args(["--profile", other]);
            }
        }
        cargo.args([
            "--no-default-features",
            "--features",
            &support::run::features(),
        ]);
        assert!(
            cargo.status().unwrap().success(),
            "cannot build supervise_demo"
        );
    });
    profile_dir.join("examples").join("supervise_demo")
}

fn demo(args: &[&str]) -> Command {
    let mut cmd = Command::new(demo_path());
    cmd.args(args);
    cmd
}

/// A running demo whose stdout is read line by line.
struct Running {
    child: Child,
    out: BufReader<ChildStdout>,
    lines: Vec<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = demo(args)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Running {
            child,
            out,
            lines: Vec::new(),
        }
    }

    /// Read lines until one starts with `prefix`; return the rest of it.
    fn until(&mut self, prefix: &str) -> String {
        loop {
            let mut line = String::new();
            let n = self.out.read_line(&mut line).unwrap();
            assert!(n > 0, "EOF before {prefix:?}; got {:?}", self.lines);
            let line = line.trim_end().to_owned();
            self.lines.push(line.clone());
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_owned();
            }
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child, which we have not reaped.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    /// The rest of the output and the exit status.
    fn finish(mut self) -> (String, std::process::ExitStatus) {
        let mut rest = String::new();
        self.out.read_to_string(&mut rest).unwrap();
        let status = self.child.wait().unwrap();
        (self.lines.join("\n") + "\n" + &rest, status)
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit_once(')').unwrap().1.split_whitespace().next();
            state != Some("Z")
        })
        .unwrap_or(false)
}

#[test]
fn exit_codes_pass_through() {
    for code in [0, 1, 23, 255] {
        let out = demo(&["--", "sh", "-c", &format!("exit {code}")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "exit {code}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("status={code}\n")), "{text}");
    }
}

#[test]
fn death_by_signal_is_128_plus_n() {
    for (name, n) in [("TERM", 15), ("KILL", 9), ("USR1", 10)] {
        let out = demo(&["--", "sh", "-c", &format!("kill -{name} $$")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(128 + n), "{name}");
    }
}

/// A shell that reports the first of `sigs` it receives and exits with 100 + its number, or
/// exits 99 after some 30 s. (It polls with short sleeps: dash's `wait` builtin can miss a
/// trapped signal that arrives just before it starts waiting.)
fn trap_script(sigs: &[&str]) -> String {
    let mut s = String::new();
    for sig in sigs {
        let n = sig_number(sig);
        s += &format!("trap 'echo got-{sig}; exit {}' {sig}; ", 100 + n);
    }
    s + "echo ready; i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; exit 99"
}

fn sig_number(name: &str) -> i32 {
    match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "WINCH" => libc::SIGWINCH,
        other => panic!("{other}"),
    }
}

#[test]
fn default_set_is_forwarded() {
    let all = ["TERM", "INT", "HUP", "QUIT", "USR1", "USR2"];
    for sig in all {
        let script = trap_script(&all);
        let mut run = Running::start(&["--", "sh", "-c", &script]);
        run.until("ready");
        let sent = Instant::now();
        run.signal(sig_number(sig));
        let (out, status) = run.finish();
        // Promptly: not when the command's 30 s sleep ends.
        assert!(sent.elapsed() < Duration::from_secs(10), "{sig}: too slow");
        assert!(out.contains(&format!("got-{sig}\n")), "{sig}: {out}");
        assert_eq!(status.code(), Some(100 + sig_number(sig)), "{sig}: {out}");
    }
}

#[test]
fn forwarding_works_with_a_manual_poll_loop() {
    let script = trap_script(&["USR2"]);
    let mut run = Running::start(&["--manual", "--", "sh", "-c", &script]);
    run.until("ready");
    run.signal(libc::SIGUSR2);
    let (out, status) = run.finish();
    assert!(out.contains("got-USR2\n"), "{out}");
    assert_eq!(status.code(), Some(100 + libc::SIGUSR2), "{out}");
}

#[test]
fn forward_replaces_the_set() {
    // WINCH is not forwarded by default: it is when asked for.
    let script = trap_script(&["WINCH"]);
    let mut run = Running::start(&["--forward", "WINCH", "--", "sh", "-c", &script]);
    run.until("ready");
    run.signal(libc::SIGWINCH);
    let (out, status) = run.finish();
    assert!(out.contains("got-WINCH\n"), "{out}");
    assert_eq!(status.code(), Some(100 + libc::SIGWINCH));

    // TERM is no longer forwarded, nor blocked: it kills the supervisor, not the command.
    let mut run = Running::start(&["--forward", "USR1", "--", "sleep", "30"]);
    let pid: i32 = run.until("pid=").parse().unwrap();
    run.signal(libc::SIGTERM);
    let status = run.child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    sleep(Duration::from_millis(200));
    let survived = alive(pid);
    // SAFETY: the orphaned sleep is ours to clean up.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(
        survived,
        "TERM reached the command although only USR1 is forwarded"
    );
}

#[test]
fn uncatchable_signals_are_rejected() {
    let out = demo(&["--forward", "KILL", "--", "true"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("spawn-error=InvalidInput"), "{text}");
}

fn field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {out}"))
        .trim()
        .to_owned()
}

#[test]
fn caller_state_is_restored_and_ignored_sigchld_does_not_lose_the_status() {
    // The demo blocks nothing itself; it ignores SIGCHLD, which would make the kernel reap
    // the child behind our back if the supervisor did not switch it to SIG_DFL meanwhile.
    let out = demo(&["--ignore", "CHLD", "--report", "--", "sh", "-c", "exit 7"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(7), "{text}");
    assert_eq!(field(&text, "mask-before="), field(&text, "mask-after="));
    assert_eq!(field(&text, "chld-ignored-before="), "true");
    assert_eq!(field(&text, "chld-ignored-after="), "true");
}

#[test]
fn spawn_errors_come_back_typed_and_restore_the_mask() {
    for (cmd, kind) in [
        ("/nonexistent/command", "NotFound"),
        ("/etc/passwd", "PermissionDenied"),
    ] {
        let out = demo(&["--report", "--", cmd]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("spawn-error={kind}")),
            "{cmd}: {text}"
        );
        assert_eq!(field(&text, "mask-before="), field(&text, "mask-after="));
    }
}

/// The child's `SigBlk` and `SigIgn` masks, as hex numbers.
fn child_masks(extra: &[&str]) -> (u64, u64) {
    let mut args = extra.to_vec();
    args.extend(["--", "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]);
    let out = demo(&args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = |k| u64::from_str_radix(&field(&text, k), 16).unwrap();
    (hex("SigBlk:"), hex("SigIgn:"))
}

fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// glibc's internal signals 32 and 33, which its posix_spawn(3) leaves ignored in children
/// (see the module docs of `pidward::supervise`): not application signals.
const GLIBC_INTERNAL: u64 = (1 << 31) | (1 << 32);

#[test]
fn child_gets_a_clean_slate() {
    let ignored = "INT,QUIT,TERM,USR1,HUP";
    let (blk, ign) = child_masks(&["--ignore", ignored]);
    // The supervisor blocks the forwarded signals and CHLD; none of that reaches the child.
    assert_eq!(blk, 0, "child signal mask {blk:#x}");
    assert_eq!(ign & !GLIBC_INTERNAL, 0, "child ignores {ign:#x}");

    // Signals the caller had blocked are unblocked in the child.
    let (blk, _) = child_masks(&["--block", "USR2,ALRM,TERM"]);
    assert_eq!(blk, 0, "child signal mask {blk:#x}");

    // The fast path (nothing ignored, nothing blocked) as well.
    let (blk, ign) = child_masks(&[]);
    assert_eq!(blk, 0, "child signal mask {blk:#x}");
    assert_eq!(ign & !GLIBC_INTERNAL, 0, "child ignores {ign:#x}");

    // Unless asked to keep what the caller ignores, as nohup and `cmd &` expect.
    let (blk, ign) = child_masks(&["--keep-ignored", "--ignore", ignored]);
    assert_eq!(blk, 0);
    for sig in [
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGTERM,
        libc::SIGUSR1,
        libc::SIGHUP,
    ] {
        assert_ne!(ign & bit(sig), 0, "signal {sig} not kept ignored: {ign:#x}");
    }
}

/// Runs the demo with `args` and `sleep 20`; checks that `sig` ended the command well
/// before it would have ended by itself (128 + the signal, from the child's status), and
/// returns the demo's output.
fn ended_by(args: &[&str], sig: i32) -> String {
    // (The demo is built first: the window is for the run, not for the build.)
    demo_path();
    let start = Instant::now();
    let mut all = args.to_vec();
    all.extend(["--", "sleep", "20"]);
    let out = demo(&all).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(128 + sig),
        "{args:?}: {:?} {text}",
        out.status
    );
    assert!(text.contains(&format!("status={}", 128 + sig)), "{text}");
    assert!(start.elapsed() < Duration::from_secs(15), "{args:?}");
    text
}

#[test]
fn a_signal_that_arrives_during_spawn_is_forwarded_not_fatal() {
    // TERM and USR1 reach the supervisor while the child is held between clone and exec, so
    // `spawn_exec` has not returned: the supervisor must survive and pass them on once the
    // child runs. (They come from a second thread: the recording handler's path.)
    ended_by(&["--raise-in-child", "USR1"], libc::SIGUSR1);
    ended_by(&["--raise-in-child", "TERM"], libc::SIGTERM);
}

#[test]
fn a_signal_pending_before_the_spawn_is_forwarded_once_the_child_runs() {
    // The demo is single-threaded: the supervisor blocks the set rather than catching it, and
    // a signal already pending when it forks must reach the child, which did not exist when it
    // was sent. USR1 ends `sleep` (128 + USR1) where a lost one would let it run 20 s.
    ended_by(&["--raise-before", "USR1"], libc::SIGUSR1);
    // Pending TERM as well, with a report: the caller's mask (TERM blocked by the demo
    // itself) is what it was before.
    let text = ended_by(&["--report", "--raise-before", "TERM"], libc::SIGTERM);
    assert_eq!(field(&text, "mask-before="), field(&text, "mask-after="));
    let mask = u64::from_str_radix(&field(&text, "mask-after="), 16).unwrap();
    assert_eq!(mask, bit(libc::SIGTERM), "{text}");
}

#[test]
fn subreaper_adopts_and_reaps_orphans() {
    // The command leaves an orphan that reports its parent and exits at once, then lives on.
    let script = "(sh -c 'sleep 0.2; exec cat /proc/self/stat' &); sleep 1.5";
    let mut run = Running::start(&["--subreaper", "--", "sh", "-c", script]);
    let supervisor = run.child.id() as i32;
    run.until("pid=");
    let line = run.until("");
    let ppid: i32 = line
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ppid, supervisor, "the orphan was not adopted: {line}");
    // The orphan has exited; while the command still runs, it must already be reaped.
    sleep(Duration::from_millis(500));
    let zombies = zombie_children(supervisor);
    assert!(zombies.is_empty(), "unreaped orphans: {zombies:?}");
    let (out, status) = run.finish();
    assert_eq!(status.code(), Some(0), "{out}");
}

#[test]
fn subreaper_reaps_orphans_left_when_the_command_exits() {
    // The orphan exits before the command, which does not reap it; when the command exits, its
    // zombie is handed to us and must be reaped before `wait` returns.
    let script = "sleep 0.1 & exec sleep 0.5";
    let out = demo(&["--subreaper", "--report", "--", "sh", "-c", script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(field(&text, "zombies-after="), "0", "{text}");
}

fn zombie_children(parent: i32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        if fields[0] == "Z" && fields[1].parse::<i32>() == Ok(parent) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn terminal_ctrl_c_is_not_delivered_twice() {
    // Under a pseudo-terminal (script(1)), Ctrl-C makes the kernel signal the whole foreground
    // process group: supervisor and command. Forwarding it as well would count 2.
    let counter = "my $n = 0; $SIG{INT} = sub { $n++ }; $| = 1; print qq(ready\\n); \
                   for (1..20) { select(undef, undef, undef, 0.1) } print qq(ints=$n\\n);";
    let inner = format!("exec {} -- perl -e '{counter}'", demo_path().display());
    let mut script = Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(script.stdout.take().unwrap());
    let start = Instant::now();
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "no ready line");
        if line.contains("ready") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20));
    }
    let mut stdin = script.stdin.take().unwrap();
    stdin.write_all(b"\x03").unwrap();
    stdin.flush().unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    drop(stdin);
    script.wait().unwrap();
    assert!(rest.contains("ints=1"), "{rest:?}");
}
