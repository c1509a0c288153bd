//! The service's output to each DEST of `-o`, `--stdout` and `--stderr`: syslog and journal
//! datagrams to real listeners (a record per line, priority by stream, checked on the bytes),
//! pidward's standard error, none; and drops under a hung syslog while signals still pass.

mod support;

use support::log::{Listener, entry, pidward, run};
use support::wait_until;

use std::process::{Command, Stdio};
use std::time::Duration;

/// The datagrams as text.
fn texts(l: &Listener) -> Vec<String> {
    l.all()
        .into_iter()
        .map(|d| String::from_utf8(d).unwrap())
        .collect()
}

const SCRIPT: &str = "echo out1; echo err1 >&2; echo out2; printf 'no newline' >&2";

#[test]
fn syslog_gets_a_datagram_per_line_info_from_stdout_err_from_stderr() {
    let l = Listener::new();
    let dest = format!("syslog:local1@{}", l.path);
    let out = run(&[
        "-l", "none", "-T", "web", "-o", &dest, "--", "sh", "-c", SCRIPT,
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    let mut got = texts(&l);
    got.sort_by_key(|d| d.rsplit(": ").next().unwrap().to_owned());
    // local1 = 17: info <142>, err <139>; "Mmm dd hh:mm:ss web[PID]: LINE", no newline.
    let want = [
        ("err1", 139),
        ("no newline", 139),
        ("out1", 142),
        ("out2", 142),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (d, (line, pri)) in got.iter().zip(want) {
        assert!(d.starts_with(&format!("<{pri}>")), "{d}");
        assert!(d.ends_with(&format!("]: {line}")), "{d}");
        assert!(d.contains(" web["), "{d}");
    }
}

#[test]
fn a_level_given_with_the_destination_is_every_line_s() {
    let l = Listener::new();
    let dest = format!("syslog5424:daemon.notice@{}", l.path);
    let out = run(&["-l", "none", "--stderr", &dest, "--", "sh", "-c", SCRIPT]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out1\nout2\n");
    let got = texts(&l);
    assert_eq!(got.len(), 2, "{got:?}");
    for (d, line) in got.iter().zip(["err1", "no newline"]) {
        // daemon.notice = 29; RFC 5424 with the stream as MSGID.
        assert!(d.starts_with("<29>1 "), "{d}");
        assert_eq!(d.split(' ').nth(5), Some("stderr"), "{d}");
        assert!(d.ends_with(&format!(" - {line}")), "{d}");
    }
}

#[test]
fn journal_entries_per_line_with_priority_and_stream() {
    let l = Listener::new();
    let dest = format!("journal@{}", l.path);
    let out = run(&[
        "-l", "none", "-T", "web", "-o", &dest, "--", "sh", "-c", SCRIPT,
    ]);
    assert!(out.status.success(), "{out:?}");
    let mut got: Vec<_> = l.all().iter().map(|d| entry(d)).collect();
    got.sort_by_key(|e| e["MESSAGE"].clone());
    let want = [
        ("err1", "3", "stderr"),
        ("no newline", "3", "stderr"),
        ("out1", "6", "stdout"),
        ("out2", "6", "stdout"),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (e, (message, priority, stream)) in got.iter().zip(want) {
        assert_eq!(e["MESSAGE"], message.as_bytes());
        assert_eq!(e["PRIORITY"], priority.as_bytes());
        assert_eq!(e["PIDWARD_STREAM"], stream.as_bytes());
        assert_eq!(e["SYSLOG_IDENTIFIER"], b"web");
        let pid: u32 = String::from_utf8_lossy(&e["SYSLOG_PID"]).parse().unwrap();
        assert!(pid > 0);
    }
}

#[test]
fn stderr_and_none_as_destinations() {
    // The command's stdout on pidward's stderr (its own descriptor: the fast path).
    let out = run(&["-l", "none", "--stdout", "stderr", "--", "sh", "-c", SCRIPT]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    for line in ["out1\n", "err1\n", "out2\n"] {
        assert!(err.contains(line), "{err:?}");
    }
    // Through the relay, timestamped.
    let out = run(&[
        "-l",
        "none",
        "--output-timestamps",
        "--stdout",
        "stderr",
        "--stderr",
        "none",
        "--",
        "sh",
        "-c",
        SCRIPT,
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err:?}");
    for (l, want) in lines.iter().zip(["out1", "out2"]) {
        assert!(support::log::is_rfc3339_ms(&l[..24]), "{l}");
        assert_eq!(&l[25..], want);
    }
    // none: nothing anywhere.
    let out = run(&["-l", "none", "-o", "none", "--", "sh", "-c", SCRIPT]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
}

#[test]
fn a_hung_syslog_drops_output_lines_counts_them_and_signals_still_pass() {
    let l = Listener::new();
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("app.pid");
    let got = dir.path().join("got");
    // Nobody reads the listener: its queue fills and sendto(2) says EAGAIN.
    let (stop, go) = (dir.path().join("stop"), dir.path().join("go"));
    let script = format!(
        "trap 'echo usr1 >> {g}' USR1; trap 'exit 0' TERM; \
         while [ ! -e {s} ]; do seq 1 200; sleep 0.01; done; \
         while [ ! -e {o} ]; do sleep 0.01; done; echo after; sleep 30 & wait $!",
        g = got.display(),
        s = stop.display(),
        o = go.display(),
    );
    let dest = format!("syslog@{}", l.path);
    let mut child = Command::new(pidward())
        .args([
            "run",
            "-l",
            "none",
            "-p",
            pidfile.to_str().unwrap(),
            "-o",
            &dest,
        ])
        .args(["--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let dropped = || {
        let out = Command::new(pidward())
            .args(["status", "--json", pidfile.to_str().unwrap()])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["service"]["dropped_lines"].as_u64().unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(10), || dropped() > 100),
        "no drops counted in the state"
    );
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    for _ in 0..3 {
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR1).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        wait_until(Duration::from_secs(5), || {
            std::fs::read_to_string(&got).map_or(0, |s| s.lines().count()) >= 3
        }),
        "USR1 not forwarded while the sink is hung"
    );
    // Stop the flood, unblock the sink: the next line that gets through says how many
    // were lost.
    std::fs::write(&stop, "").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!l.all().is_empty());
    std::fs::write(&go, "").unwrap();
    let mut seen = Vec::new();
    assert!(
        wait_until(Duration::from_secs(5), || {
            seen.extend(texts(&l));
            seen.iter().any(|d| d.ends_with(": after"))
        }),
        "{seen:?}"
    );
    let n = seen.len();
    assert!(n >= 2, "{seen:?}");
    let notice = &seen[n - 2];
    assert!(notice.starts_with("<28>"), "a warning of daemon: {notice}");
    let count: u64 = notice
        .rsplit(": pidward: ")
        .next()
        .and_then(|t| t.strip_suffix(" lines dropped"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{notice}"));
    assert!(count > 100, "{notice}");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
