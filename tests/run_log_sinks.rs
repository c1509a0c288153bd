//! The lifecycle log's syslog and journal sinks, against real datagram listeners bound in a
//! temporary directory (`syslog@SOCKET`, `journal@SOCKET`), and the journal's stream mode
//! (`$JOURNAL_STREAM`), checked on the bytes.

mod support;

use support::log::{Listener, entry, pidward, run};

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn syslog_rfc3164_datagrams_with_facility_and_least_level() {
    let l = Listener::new();
    let dest = format!("syslog:local3.notice@{}", l.path);
    let out = run(&["-l", &dest, "-T", "web", "--", "sh", "-c", "exit 1"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<String> = l
        .all()
        .into_iter()
        .map(|d| String::from_utf8(d).unwrap())
        .collect();
    // notice: the info events (start, spawned, ready) stay out; exited and exit are warnings.
    assert_eq!(got.len(), 2, "{got:?}");
    let pid = out_pid(&got[0]);
    for d in &got {
        // local3 = 19, warning = 4: <156>; then "Mmm dd hh:mm:ss web[PID]: ".
        assert!(d.starts_with("<156>"), "{d}");
        let header = &d[5..];
        let month = &header[..3];
        assert!(
            [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
            ]
            .contains(&month),
            "{d}"
        );
        assert_eq!(&header[6..7], " ");
        assert_eq!(&header[9..10], ":");
        assert!(
            header[15..].starts_with(&format!(" web[{pid}]: level=warning event=")),
            "{d}"
        );
        assert!(!d.ends_with('\n'));
    }
    assert!(
        got[0].contains("event=exited pid=") && got[0].contains(" code=1 "),
        "{}",
        got[0]
    );
    assert!(got[1].ends_with("event=exit code=1"), "{}", got[1]);
}

/// The PID in `tag[PID]:`.
fn out_pid(datagram: &str) -> u32 {
    let open = datagram.find('[').unwrap();
    let close = datagram.find("]:").unwrap();
    datagram[open + 1..close].parse().unwrap()
}

#[test]
fn syslog_rfc5424_datagrams() {
    let l = Listener::new();
    let dest = format!("syslog5424@{}", l.path);
    let out = run(&["-l", &dest, "--log-format", "json", "--", "true"]);
    assert!(out.status.success());
    let got: Vec<String> = l
        .all()
        .into_iter()
        .map(|d| String::from_utf8(d).unwrap())
        .collect();
    let events: Vec<&str> = got.iter().map(|d| d.split(' ').nth(5).unwrap()).collect();
    assert_eq!(
        events,
        ["start", "spawned", "ready", "exited", "exit"],
        "{got:?}"
    );
    for d in &got {
        // daemon = 3, info = 6: <30>; version 1; RFC 3339 time; host; tag; PID; MSGID; no SD.
        let f: Vec<&str> = d.splitn(8, ' ').collect();
        assert_eq!(f[0], "<30>1", "{d}");
        assert!(pidward::time::parse_rfc3339(f[1]).is_ok(), "{d}");
        assert_eq!(f[3], "true");
        assert!(f[4].parse::<u32>().is_ok());
        assert_eq!(f[6], "-");
        let body: serde_json::Value = serde_json::from_str(f[7]).unwrap();
        assert_eq!(body["event"], f[5]);
        assert!(body.get("ts").is_none(), "the header has the time: {d}");
    }
}

#[test]
fn journal_native_datagrams() {
    let l = Listener::new();
    let dest = format!("journal@{}", l.path);
    // An argument with a newline makes the start event's command a binary-framed field.
    let out = run(&["-l", &dest, "-T", "jr", "--", "sh", "-c", "exit 0\n", "x"]);
    assert!(out.status.success(), "{out:?}");
    let got = l.all();
    assert_eq!(got.len(), 5);
    let start = entry(&got[0]);
    assert_eq!(start["PIDWARD_EVENT"], b"start");
    assert_eq!(start["PIDWARD_COMMAND"], b"sh -c exit 0\n x");
    assert_eq!(start["SYSLOG_IDENTIFIER"], b"jr");
    assert_eq!(start["PRIORITY"], b"6");
    assert_eq!(start["SYSLOG_FACILITY"], b"3");
    assert!(!start["MESSAGE"].contains(&b'\n') || start["MESSAGE"].ends_with(b"\""));
    let exited = entry(&got[3]);
    assert_eq!(exited["PIDWARD_EVENT"], b"exited");
    assert_eq!(exited["PIDWARD_CODE"], b"0");
    assert_eq!(exited["PIDWARD_CLEAN"], b"true");
    let message = String::from_utf8(exited["MESSAGE"].clone()).unwrap();
    assert!(
        message.starts_with("level=info event=exited pid="),
        "{message}"
    );
    assert!(
        exited.keys().all(|k| !k.starts_with('_')),
        "trusted fields are journald's"
    );
}

#[test]
fn journal_on_a_stderr_that_is_the_journal_stream() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let meta = std::fs::File::from(std::os::fd::OwnedFd::from(theirs.try_clone().unwrap()))
        .metadata()
        .unwrap();
    let child = Command::new(pidward())
        .args(["run", "-l", "journal", "--", "sh", "-c", "exit 5"])
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let mut text = String::new();
    let mut ours = ours;
    ours.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    ours.read_to_string(&mut text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].starts_with("<6>level=info event=start "), "{text}");
    assert!(
        lines[3].starts_with("<4>level=warning event=exited "),
        "{text}"
    );
    assert!(
        lines[4].starts_with("<4>level=warning event=exit code=5"),
        "{text}"
    );
}

#[test]
fn a_missing_socket_is_exit_125_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-socket");
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "").unwrap();
    for (dest, path) in [
        (format!("syslog@{}", missing.display()), &missing),
        (format!("journal@{}", plain.display()), &plain),
    ] {
        let out = run(&["-l", &dest, "--", "true"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{err}");
        assert!(err.contains(path.to_str().unwrap()), "{err}");
    }
}

#[test]
fn a_hung_syslog_drops_lines_and_counts_them() {
    let l = Listener::new();
    // A listener that does not read: its queue fills and sendto(2) says EAGAIN.
    let dest = format!("syslog@{}", l.path);
    let filler = UnixDatagram::unbound().unwrap();
    filler.set_nonblocking(true).unwrap();
    let big = vec![b'x'; 4096];
    let mut queued = 0;
    while filler.send_to(&big, &l.path).is_ok() {
        queued += 1;
    }
    let out = run(&["-l", &dest, "--", "true"]);
    assert!(
        out.status.success(),
        "a hung syslog must not stop pidward: {out:?}"
    );
    // Drain the queue, run again: nothing was kept back, the new lines get through.
    let got = l.all();
    assert_eq!(
        got.len(),
        queued,
        "pidward's lines were dropped, not queued"
    );
    let out = run(&["-l", &dest, "--", "true"]);
    assert!(out.status.success());
    assert_eq!(l.all().len(), 5);
}
