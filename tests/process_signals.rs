//! Signals: by name and number, through the pidfd, to a clean child, to a process group, and
//! never after the child was reaped.
#![cfg(feature = "process")]

use std::time::Duration;

use pidward::Signal;
use pidward::process::{ChildFd, Command, Error, ExitReason};
use tokio::io::AsyncBufReadExt;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

fn killed(signal: Signal) -> ExitReason {
    ExitReason::Signaled {
        signal,
        core_dumped: false,
    }
}

/// Waits until `pid` no longer exists (reaped), within a generous time limit.
async fn gone(pid: u32) -> bool {
    for _ in 0..400 {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// Waits until `pid` is dead: gone, or a zombie. For grandchildren, which are reaped by
/// whoever adopts orphans here (init or a subreaper), not by us.
async fn dead(pid: u32) -> bool {
    for _ in 0..400 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) if stat.contains(") Z ") => return true,
            Ok(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
    false
}

#[tokio::test]
async fn term_int_hup_kill_usr1_end_the_child_with_that_signal() {
    timeout(LIMIT, async {
        for (name, signal) in [
            ("TERM", Signal::TERM),
            ("INT", Signal::INT),
            ("HUP", Signal::HUP),
            ("KILL", Signal::KILL),
            ("USR1", Signal::USR1),
        ] {
            let mut child = Command::new("sleep").arg("60").spawn().unwrap();
            child.signal(name.parse().unwrap()).unwrap();
            let reason = child.wait().await.unwrap();
            assert_eq!(reason, killed(signal), "{name}");
            assert_eq!(
                reason.to_string(),
                format!("killed by signal {}", signal.as_raw())
            );
        }
        // By number.
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        child.signal("15".parse().unwrap()).unwrap();
        assert_eq!(child.wait().await.unwrap(), killed(Signal::TERM));
    })
    .await
    .unwrap();
}

/// The parent ignores INT, HUP, USR1 and TERM and blocks USR2 in the spawning thread; the child
/// must start with default dispositions and an empty mask, so each signal still kills it.
#[tokio::test(flavor = "current_thread")]
async fn signals_the_parent_ignores_or_blocks_still_reach_the_child() {
    // SAFETY: changing this test process's dispositions and this thread's mask; nextest runs
    // each test in its own process.
    unsafe {
        for sig in [libc::SIGINT, libc::SIGHUP, libc::SIGUSR1, libc::SIGTERM] {
            libc::signal(sig, libc::SIG_IGN);
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR2);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    timeout(LIMIT, async {
        for signal in [
            Signal::INT,
            Signal::HUP,
            Signal::USR1,
            Signal::TERM,
            Signal::USR2,
            Signal::PIPE,
        ] {
            let mut child = Command::new("sleep").arg("60").spawn().unwrap();
            let status =
                std::fs::read_to_string(format!("/proc/{}/status", child.id().unwrap())).unwrap();
            for field in ["SigBlk", "SigIgn"] {
                let line = status
                    .lines()
                    .find(|l| l.starts_with(field))
                    .unwrap()
                    .to_owned();
                assert_eq!(line, format!("{field}:\t0000000000000000"), "child {field}");
            }
            child.signal(signal).unwrap();
            assert_eq!(child.wait().await.unwrap(), killed(signal), "{signal}");
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn signalling_after_reap_is_a_typed_error() {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id().unwrap();
    assert!(child.wait().await.unwrap().success());
    assert_eq!(child.id(), None, "a reaped child has no PID");
    let err = child.signal(Signal::TERM).unwrap_err();
    assert!(
        matches!(err, Error::ProcessExitedAlready { pid: p } if p == pid),
        "{err:?}"
    );
    // kill() of a reaped child reports the old reason instead of signalling.
    assert!(child.kill().await.unwrap().success());

    // Reaped through the event stream too.
    let mut child = Command::new("sh").args(["-c", "exit 9"]).spawn().unwrap();
    while child.next_event().await.unwrap().is_some() {}
    assert!(matches!(
        child.signal(Signal::KILL),
        Err(Error::ProcessExitedAlready { .. })
    ));
}

#[tokio::test]
async fn a_zombie_that_is_not_reaped_yet_accepts_signals() {
    let mut child = Command::new("true").spawn().unwrap();
    // Let it exit without reaping it.
    let mut state = String::new();
    for _ in 0..250 {
        state = std::fs::read_to_string(format!("/proc/{}/stat", child.id().unwrap())).unwrap();
        if state.contains(") Z ") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(state.contains(") Z "), "expected a zombie: {state}");
    child.signal(Signal::TERM).unwrap();
    assert!(child.wait().await.unwrap().success());
}

#[tokio::test]
async fn kill_process_group_reaches_grandchildren() {
    timeout(LIMIT, async {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 60 & echo $!; sleep 60 & echo $!; wait"])
            .stdout(ChildFd::Output)
            .kill_process_group(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.take_stdout().unwrap()).lines();
        let first: u32 = lines.next_line().await.unwrap().unwrap().parse().unwrap();
        let second: u32 = lines.next_line().await.unwrap().unwrap().parse().unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{first}/stat")).unwrap();
        let pgrp: u32 = stat
            .rsplit(") ")
            .next()
            .unwrap()
            .split(' ')
            .nth(2)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            Some(pgrp),
            child.id(),
            "the child leads a new process group"
        );
        child.signal(Signal::TERM).unwrap();
        assert_eq!(child.wait().await.unwrap(), killed(Signal::TERM));
        // The grandchildren were in the group: they got TERM too (init reaps them).
        assert!(dead(first).await, "grandchild {first} survived");
        assert!(dead(second).await, "grandchild {second} survived");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn kill_on_drop_kills_and_reaps() {
    timeout(LIMIT, async {
        let child = Command::new("sleep")
            .arg("60")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        drop(child);
        assert!(
            gone(pid).await,
            "child {pid} still exists (alive or zombie)"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn kill_on_drop_with_a_process_group_kills_the_group() {
    timeout(LIMIT, async {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 60 & echo $!; wait"])
            .stdout(ChildFd::Output)
            .kill_process_group(true)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.take_stdout().unwrap()).lines();
        let grandchild: u32 = lines.next_line().await.unwrap().unwrap().parse().unwrap();
        let pid = child.id().unwrap();
        drop(child);
        assert!(gone(pid).await, "child {pid} still exists");
        assert!(dead(grandchild).await, "grandchild {grandchild} survived");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn dropping_a_running_child_leaves_no_zombie() {
    timeout(LIMIT, async {
        let child = Command::new("sleep").arg("0.3").spawn().unwrap();
        let pid = child.id().unwrap();
        drop(child);
        // Still running right after the drop: not killed.
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        assert!(gone(pid).await, "child {pid} was left as a zombie");
    })
    .await
    .unwrap();
}
