//! Exit reasons and the order of the exited/ended events.
#![cfg(feature = "process")]

use std::time::Duration;

use pidward::Signal;
use pidward::child::{Resource, Rlimit};
use pidward::process::{Command, Event, ExitReason};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn exit_codes_0_1_23_255() {
    for code in [0, 1, 23, 255] {
        let mut child = Command::new("sh")
            .args(["-c", &format!("exit {code}")])
            .spawn()
            .unwrap();
        let reason = child.wait().await.unwrap();
        assert_eq!(reason, ExitReason::Exited(code));
        assert_eq!(reason.code(), Some(code));
        assert_eq!(reason.signal(), None);
        assert_eq!(reason.to_string(), format!("exit code {code}"));
        assert_eq!(reason.success(), code == 0);
        // The reason is kept: waiting again gives it again.
        assert_eq!(child.wait().await.unwrap(), reason);
        assert_eq!(child.try_wait().unwrap(), Some(reason));
        assert_eq!(child.id(), None, "reaped: no PID any more");
    }
}

/// Every signal whose default action ends the process, standard and real-time.
#[tokio::test]
async fn every_killed_by_n_case() {
    let terminating: Vec<i32> = [
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGILL,
        libc::SIGTRAP,
        libc::SIGABRT,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGKILL,
        libc::SIGUSR1,
        libc::SIGSEGV,
        libc::SIGUSR2,
        libc::SIGPIPE,
        libc::SIGALRM,
        libc::SIGTERM,
        libc::SIGSTKFLT,
        libc::SIGXCPU,
        libc::SIGXFSZ,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGIO,
        libc::SIGPWR,
        libc::SIGSYS,
    ]
    .into_iter()
    .chain(libc::SIGRTMIN()..=libc::SIGRTMAX())
    .collect();
    timeout(LIMIT, async {
        for n in terminating {
            let signal = Signal::from_raw(n).unwrap();
            // No core files: the core-dumping signals report core_dumped = false then.
            let mut child = Command::new("sleep")
                .arg("60")
                .rlimit(Rlimit::new(Resource::CORE, Some(0), Some(0)).unwrap())
                .spawn()
                .unwrap();
            child.signal(signal).unwrap();
            let reason = child.wait().await.unwrap();
            assert_eq!(
                reason,
                ExitReason::Signaled {
                    signal,
                    core_dumped: false
                },
                "signal {n}"
            );
            assert_eq!(reason.to_string(), format!("killed by signal {n}"));
            assert_eq!(reason.code(), None);
            assert_eq!(reason.shell_code(), 128 + n);
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_core_dump_is_reported() {
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new("sleep")
        .arg("60")
        .current_dir(dir.path())
        .rlimit(Rlimit::new(Resource::CORE, None, None).unwrap())
        .spawn()
        .unwrap();
    child.signal(Signal::QUIT).unwrap();
    let reason = child.wait().await.unwrap();
    assert_eq!(
        reason,
        ExitReason::Signaled {
            signal: Signal::QUIT,
            core_dumped: true
        },
        "core_pattern is {pattern:?}"
    );
    assert!(reason.core_dumped());
    assert_eq!(reason.to_string(), "killed by signal 3 (core dumped)");
}

/// Collects the event stream as short labels.
async fn labels(child: &mut pidward::process::Child) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(event) = child.next_event().await.unwrap() {
        out.push(match event {
            Event::Data { fd, data } => format!("data {fd} {}", String::from_utf8_lossy(&data)),
            Event::Closed { fd } => format!("closed {fd}"),
            Event::Exited(r) => format!("exited {r}"),
            Event::Ended(r) => format!("ended {r}"),
        });
    }
    // After Ended the stream stays finished.
    assert!(child.next_event().await.unwrap().is_none());
    out
}

#[tokio::test]
async fn exited_comes_while_a_grandchild_holds_the_pipes_and_ended_comes_last() {
    timeout(LIMIT, async {
        // A background subshell keeps stdout and stderr open after the child exits.
        let mut child = Command::new("sh")
            .args(["-c", "(sleep 0.5; echo late) & exit 3"])
            .stdio_pipes()
            .spawn()
            .unwrap();
        let log = labels(&mut child).await;
        let pos = |label: &str| {
            log.iter()
                .position(|l| l == label)
                .unwrap_or_else(|| panic!("{label:?} missing from {log:?}"))
        };
        assert!(pos("exited exit code 3") < pos("data 1 late\n"), "{log:?}");
        assert!(pos("data 1 late\n") < pos("closed 1"), "{log:?}");
        assert_eq!(log.last().unwrap(), "ended exit code 3", "{log:?}");
        assert_eq!(log.iter().filter(|l| l.starts_with("ended")).count(), 1);
        assert_eq!(log.iter().filter(|l| l.starts_with("exited")).count(), 1);
        for fd in 0..=2 {
            assert_eq!(
                log.iter().filter(|l| **l == format!("closed {fd}")).count(),
                1,
                "fd {fd}: {log:?}"
            );
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn pipes_closing_before_exit_still_end_after_exited() {
    timeout(LIMIT, async {
        let mut child = Command::new("sh")
            .args(["-c", "exec 0<&- 1>&- 2>&-; sleep 1; exit 4"])
            .stdio_pipes()
            .spawn()
            .unwrap();
        let log = labels(&mut child).await;
        assert_eq!(log.len(), 5, "{log:?}");
        let mut closed = log[..3].to_vec();
        closed.sort();
        assert_eq!(closed, ["closed 0", "closed 1", "closed 2"]);
        assert_eq!(log[3..], ["exited exit code 4", "ended exit code 4"]);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_paused_reader_holds_back_ended_until_resumed() {
    timeout(LIMIT, async {
        let mut child = Command::new("sh")
            .args(["-c", "echo held; exit 0"])
            .stdio_pipes()
            .spawn()
            .unwrap();
        child.close_stdin();
        child.pause(1).unwrap();
        let mut seen = Vec::new();
        // Everything up to the exit, then half a second more: nothing else may come while
        // fd 1 is paused.
        while !seen.contains(&Event::Exited(ExitReason::Exited(0))) {
            seen.push(child.next_event().await.unwrap().unwrap());
        }
        while let Ok(event) =
            tokio::time::timeout(Duration::from_millis(500), child.next_event()).await
        {
            seen.push(event.unwrap().unwrap());
        }
        assert!(
            seen.contains(&Event::Exited(ExitReason::Exited(0))),
            "{seen:?}"
        );
        assert!(
            !seen
                .iter()
                .any(|e| matches!(e, Event::Ended(_) | Event::Data { fd: 1, .. }))
        );
        child.resume(1).unwrap();
        let mut rest = Vec::new();
        while let Some(event) = child.next_event().await.unwrap() {
            rest.push(event);
        }
        assert_eq!(
            rest,
            [
                Event::Data {
                    fd: 1,
                    data: b"held\n".to_vec()
                },
                Event::Closed { fd: 1 },
                Event::Ended(ExitReason::Exited(0))
            ]
        );
    })
    .await
    .unwrap();
}
