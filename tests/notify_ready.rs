//! The readiness wait against real child processes: sd_notify through `pidward notify`, and
//! the notify-fd protocol through a pipe.

mod support;

use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use pidward::notify::{Accept, Listener, ReadyOutcome, ReadySource};
use support::notify::{PIDWARD, Reaped, recv_within, sh};

const LONG: Duration = Duration::from_secs(30);

/// Spawns `script` with its own listener, accepting the child's tree.
fn start(script: &str) -> (ReadySource, Reaped) {
    let mut listener = Listener::bind_private().unwrap();
    let child = sh(script, Some(&listener));
    listener.set_accept(Accept::Tree(child.id()));
    (ReadySource::Notify(listener), child)
}

#[test]
fn ready_after_half_a_second_returns_then() {
    let started = Instant::now();
    let (source, child) = start(r#"sleep 0.5; exec "$PIDWARD" notify --ready --status=up"#);
    let outcome = source.wait(child.pidfd().as_fd(), LONG, |_| {}).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        outcome,
        ReadyOutcome::Ready {
            main_pid: None,
            status: Some("up".into())
        }
    );
    assert!(
        elapsed >= Duration::from_millis(450) && elapsed < Duration::from_secs(3),
        "ready after {elapsed:?}"
    );
}

#[test]
fn a_grandchild_in_the_tree_is_heard_and_its_barrier_answered() {
    let dir = tempfile::tempdir().unwrap();
    let rc = dir.path().join("rc");
    let script = format!(
        r#"sleep 0.2; "$PIDWARD" notify --ready --pid; echo $? > '{}'; exec sleep 30"#,
        rc.display()
    );
    let (source, child) = start(&script);
    let mut senders = Vec::new();
    let outcome = source
        .wait(child.pidfd().as_fd(), LONG, |n| senders.push(n.sender))
        .unwrap();
    // MAINPID= is the shell (the parent of `pidward notify`), which is in the tree.
    assert_eq!(
        outcome,
        ReadyOutcome::Ready {
            main_pid: Some(child.id()),
            status: None
        }
    );
    assert_eq!(senders.len(), 1);
    assert_ne!(senders[0], child.id(), "the sender is the grandchild");
    // Keep reading, as a supervisor does: the client's barrier gets answered and it exits 0.
    let ReadySource::Notify(listener) = &source else {
        unreachable!()
    };
    let deadline = Instant::now() + Duration::from_secs(4);
    while !rc.exists() && Instant::now() < deadline {
        assert_eq!(listener.recv().unwrap(), None, "only the barrier follows");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(std::fs::read_to_string(&rc).unwrap().trim(), "0");
    assert_eq!(listener.ignored(), 0);
}

#[test]
fn death_before_ready_is_reported_at_once() {
    let started = Instant::now();
    let (source, mut child) = start("sleep 0.2; exit 3");
    let outcome = source.wait(child.pidfd().as_fd(), LONG, |_| {}).unwrap();
    assert_eq!(outcome, ReadyOutcome::ChildExited);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(child.0.wait().unwrap().code(), Some(3));
}

#[test]
fn ready_sent_just_before_exiting_still_counts() {
    let (source, mut child) = start(r#"exec "$PIDWARD" notify --ready --no-block"#);
    let pidfd = child.pidfd();
    // Let the child send and exit before looking: both descriptors are then readable.
    child.0.wait().unwrap();
    let outcome = source.wait(pidfd.as_fd(), LONG, |_| {}).unwrap();
    assert!(matches!(outcome, ReadyOutcome::Ready { .. }), "{outcome:?}");
}

#[test]
fn no_readiness_before_the_deadline_is_a_timeout() {
    let started = Instant::now();
    let (source, child) = start("exec sleep 30");
    let outcome = source
        .wait(child.pidfd().as_fd(), Duration::from_millis(500), |_| {})
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(outcome, ReadyOutcome::Timeout);
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
}

#[test]
fn errno_without_ready_fails_naming_the_error() {
    let (source, child) =
        start(r#"exec "$PIDWARD" notify ERRNO=98 --status="cannot listen on :80""#);
    let outcome = source.wait(child.pidfd().as_fd(), LONG, |_| {}).unwrap();
    assert_eq!(
        outcome,
        ReadyOutcome::Failed {
            errno: 98,
            status: Some("cannot listen on :80".into())
        }
    );
    let message = outcome.error().unwrap().to_string();
    assert!(message.contains("Address already in use"), "{message}");
}

#[test]
fn errno_zero_is_not_a_failure() {
    let (source, child) =
        start(r#""$PIDWARD" notify ERRNO=0; sleep 0.2; exec "$PIDWARD" notify --ready"#);
    let outcome = source.wait(child.pidfd().as_fd(), LONG, |_| {}).unwrap();
    assert!(matches!(outcome, ReadyOutcome::Ready { .. }), "{outcome:?}");
}

#[test]
fn extend_timeout_moves_the_deadline() {
    let timeout = Duration::from_secs(1);
    // Control: the same late READY=1 without an extension times out.
    let (source, child) = start(r#"sleep 2; exec "$PIDWARD" notify --ready"#);
    let outcome = source.wait(child.pidfd().as_fd(), timeout, |_| {}).unwrap();
    assert_eq!(outcome, ReadyOutcome::Timeout);
    drop(child);

    let started = Instant::now();
    let (source, child) = start(
        r#""$PIDWARD" notify EXTEND_TIMEOUT_USEC=3000000; sleep 2; exec "$PIDWARD" notify --ready"#,
    );
    let mut extensions = Vec::new();
    let outcome = source
        .wait(child.pidfd().as_fd(), timeout, |n| {
            extensions.extend(n.extend_timeout)
        })
        .unwrap();
    assert!(matches!(outcome, ReadyOutcome::Ready { .. }), "{outcome:?}");
    assert_eq!(extensions, [Duration::from_secs(3)]);
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_extension_expires_too() {
    let started = Instant::now();
    let (source, child) = start(r#"exec "$PIDWARD" notify --no-block EXTEND_TIMEOUT_USEC=1500000"#);
    // The child (pidward notify itself) exits after sending; watch a pidfd that stays quiet.
    let quiet = Reaped::new(
        std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap(),
    );
    let outcome = source
        .wait(quiet.pidfd().as_fd(), Duration::from_millis(300), |_| {})
        .unwrap();
    assert_eq!(outcome, ReadyOutcome::Timeout);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
    drop(child);
}

#[test]
fn status_and_main_pid_are_reported_in_order() {
    let (source, child) = start(
        r#""$PIDWARD" notify --status=starting
           "$PIDWARD" notify --status=warming
           exec "$PIDWARD" notify --ready --pid=self"#,
    );
    let mut statuses = Vec::new();
    let outcome = source
        .wait(child.pidfd().as_fd(), LONG, |n| {
            statuses.extend(n.status.clone())
        })
        .unwrap();
    assert_eq!(statuses, ["starting", "warming"]);
    assert_eq!(
        outcome,
        ReadyOutcome::Ready {
            main_pid: Some(child.id()),
            status: Some("warming".into())
        }
    );
}

#[test]
fn a_sender_outside_the_tree_is_ignored() {
    let started = Instant::now();
    let (source, child) = start(r#"sleep 1; exec "$PIDWARD" notify --ready --status=genuine"#);
    // A sibling of the child: same parent (this process), not in the child's tree.
    let intruder = std::process::Command::new(PIDWARD)
        .args(["notify", "--ready", "--status=intruder"])
        .env(
            "NOTIFY_SOCKET",
            match &source {
                ReadySource::Notify(listener) => listener.address().to_owned(),
                _ => unreachable!(),
            },
        )
        .spawn()
        .unwrap();
    let mut intruder = Reaped::new(intruder);
    let outcome = source.wait(child.pidfd().as_fd(), LONG, |_| {}).unwrap();
    assert_eq!(
        outcome,
        ReadyOutcome::Ready {
            main_pid: None,
            status: Some("genuine".into())
        }
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
    let ReadySource::Notify(listener) = &source else {
        unreachable!()
    };
    assert!(listener.ignored() >= 1, "ignored {}", listener.ignored());
    // Its barrier was answered too (descriptors are closed whoever sends them).
    assert!(intruder.0.wait().unwrap().success());
}

#[test]
fn an_orphan_outside_this_process_is_ignored_by_default() {
    let listener = Listener::bind_private().unwrap();
    assert_eq!(listener.accept(), Accept::Descendants);
    // The subshell outlives its parent and is re-parented away from this process.
    let mut launcher = sh(
        r#"( sleep 0.3; exec "$PIDWARD" notify --ready --status=orphan ) >/dev/null 2>&1 &"#,
        Some(&listener),
    );
    launcher.0.wait().unwrap();
    let quiet = Reaped::new(
        std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap(),
    );
    let source = ReadySource::Notify(listener);
    let outcome = source
        .wait(quiet.pidfd().as_fd(), Duration::from_millis(1500), |_| {})
        .unwrap();
    assert_eq!(outcome, ReadyOutcome::Timeout);
    let ReadySource::Notify(listener) = &source else {
        unreachable!()
    };
    assert!(listener.ignored() >= 1, "ignored {}", listener.ignored());
}

#[test]
fn a_newline_on_the_notify_fd_is_ready() {
    let (source, write_end) = ReadySource::pipe().unwrap();
    // Let the child inherit the write end under its own number.
    rustix::io::fcntl_setfd(&write_end, rustix::io::FdFlags::empty()).unwrap();
    let n = write_end.as_raw_fd();
    let started = Instant::now();
    let child = sh(&format!("sleep 0.3; echo >&{n}; exec sleep 30"), None);
    drop(write_end);
    let outcome = source.wait(child.pidfd().as_fd(), LONG, |_| {}).unwrap();
    assert_eq!(
        outcome,
        ReadyOutcome::Ready {
            main_pid: None,
            status: None
        }
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[test]
fn pidward_notify_ready_writes_to_notify_fd() {
    let (source, write_end) = ReadySource::pipe().unwrap();
    rustix::io::fcntl_setfd(&write_end, rustix::io::FdFlags::empty()).unwrap();
    let n = write_end.as_raw_fd();
    let child = sh(
        &format!(r#"sleep 0.2; NOTIFY_FD={n} "$PIDWARD" notify --ready || exit 9; exec sleep 30"#),
        None,
    );
    drop(write_end);
    let outcome = source.wait(child.pidfd().as_fd(), LONG, |_| {}).unwrap();
    assert!(matches!(outcome, ReadyOutcome::Ready { .. }), "{outcome:?}");
}

#[test]
fn death_before_the_notify_fd_newline_is_a_child_exit() {
    for _ in 0..5 {
        let (source, write_end) = ReadySource::pipe().unwrap();
        rustix::io::fcntl_setfd(&write_end, rustix::io::FdFlags::empty()).unwrap();
        let started = Instant::now();
        let mut child = sh("sleep 0.1; exit 4", None);
        drop(write_end);
        let outcome = source.wait(child.pidfd().as_fd(), LONG, |_| {}).unwrap();
        assert_eq!(outcome, ReadyOutcome::ChildExited);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(child.0.wait().unwrap().code(), Some(4));
    }
}

#[test]
fn a_notify_fd_closed_without_newline_is_closed() {
    let (source, write_end) = ReadySource::pipe().unwrap();
    rustix::io::fcntl_setfd(&write_end, rustix::io::FdFlags::empty()).unwrap();
    let n = write_end.as_raw_fd();
    let child = sh(
        &format!("sleep 0.2; printf x >&{n}; exec sleep 30 {n}>&-"),
        None,
    );
    drop(write_end);
    let outcome = source.wait(child.pidfd().as_fd(), LONG, |_| {}).unwrap();
    assert_eq!(outcome, ReadyOutcome::Closed);
}

#[test]
fn readiness_is_relayed_to_an_outer_socket() {
    // The outer manager's socket, as a supervisor would find it in its own NOTIFY_SOCKET.
    let mut outer = Listener::bind_private().unwrap();
    outer.set_accept(Accept::Any);
    let upstream = pidward::notify::Notifier::new(outer.address()).unwrap();

    let (source, child) = start(r#"sleep 0.2; exec "$PIDWARD" notify --ready --status=serving"#);
    let outcome = source.wait(child.pidfd().as_fd(), LONG, |_| {}).unwrap();
    let ReadyOutcome::Ready { main_pid, status } = outcome else {
        panic!("{outcome:?}")
    };
    upstream
        .relay_ready(main_pid.unwrap_or(child.id()), status.as_deref())
        .unwrap();

    let relayed = recv_within(&outer, Duration::from_secs(2)).expect("relayed message");
    assert!(relayed.ready);
    assert_eq!(relayed.main_pid, Some(child.id()));
    assert_eq!(relayed.status.as_deref(), Some("serving"));
    assert_eq!(relayed.sender, std::process::id());
}
