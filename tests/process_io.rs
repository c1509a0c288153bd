//! Writing to and reading from a child: round trips, backpressure, closing, broken pipes.
#![cfg(feature = "process")]

use std::io::IoSlice;
use std::time::Duration;

use pidward::Signal;
use pidward::process::{ChildFd, Command, Error, Event, ExitReason};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

/// Collects everything the child writes to `fd` until the event stream ends.
async fn drain(child: &mut pidward::process::Child) -> (Vec<u8>, Vec<Event>) {
    let mut data = Vec::new();
    let mut others = Vec::new();
    while let Some(event) = child.next_event().await.unwrap() {
        match event {
            Event::Data { fd: 1, data: d } => data.extend(d),
            other => others.push(other),
        }
    }
    (data, others)
}

#[tokio::test]
async fn echo_round_trip_with_write_all_write_to_and_a_vectored_writer() {
    timeout(LIMIT, async {
        let mut child = Command::new("cat").stdio_pipes().spawn().unwrap();
        child.write_all(b"plain ").await.unwrap();
        child.write_to(0, b"to-zero ").await.unwrap();
        // The rest of AsyncWriteExt is on the writer itself.
        let mut stdin = child.take_stdin().unwrap();
        let n = stdin
            .write_vectored(&[
                IoSlice::new(b""),
                IoSlice::new(b"vec"),
                IoSlice::new(b"tor "),
            ])
            .await
            .unwrap();
        assert_eq!(n, 7, "a small vectored write goes through in one writev");
        let mut seq = &b"one two three"[..];
        stdin.write_all_buf(&mut seq).await.unwrap();
        assert!(matches!(
            child.write_all(b"x").await,
            Err(Error::NotWritable { fd: 0 })
        ));
        drop(stdin);
        let (out, events) = drain(&mut child).await;
        assert_eq!(out, b"plain to-zero vector one two three");
        assert_eq!(events.last(), Some(&Event::Ended(ExitReason::Exited(0))));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn line_by_line_round_trips_with_a_long_lived_child() {
    timeout(LIMIT, async {
        let mut child = Command::new("cat").stdio_pipes().spawn().unwrap();
        for i in 0..50 {
            let line = format!("line {i}\n");
            child.write_all(line.as_bytes()).await.unwrap();
            let mut got = Vec::new();
            while got.len() < line.len() {
                match child.next_event().await.unwrap().unwrap() {
                    Event::Data { fd: 1, data } => got.extend(data),
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(got, line.as_bytes());
        }
        child.close_stdin();
        assert_eq!(child.wait().await.unwrap(), ExitReason::Exited(0));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn writing_a_fd_that_is_not_writable_is_a_typed_error() {
    let mut child = Command::new("cat")
        .stdio_pipes()
        .fd(3, ChildFd::Output)
        .spawn()
        .unwrap();
    for fd in [1, 2, 3, 7] {
        match child.write_to(fd, b"x").await {
            Err(Error::NotWritable { fd: got }) => assert_eq!(got, fd),
            other => panic!("write_to({fd}) gave {other:?}"),
        }
    }
    child.close_stdin();
    match child.write_all(b"after close").await {
        Err(Error::NotWritable { fd: 0 }) => {}
        other => panic!("write after close_stdin gave {other:?}"),
    }
    assert!(child.wait().await.unwrap().success());
}

#[tokio::test]
async fn a_large_write_waits_for_the_child_to_read() {
    timeout(LIMIT, async {
        let payload: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
        let expected = payload.clone();
        // Small pipes that never grow, and a child that reads nothing for two seconds.
        let mut child = Command::new("sh")
            .args(["-c", "sleep 2; exec cat"])
            .stdin(ChildFd::Input)
            .stdout(ChildFd::Output)
            .pipe_size(0)
            .spawn()
            .unwrap();
        let mut stdin = child.take_stdin().unwrap();
        let mut stdout = child.take_stdout().unwrap();
        let writer = tokio::spawn(async move {
            stdin.write_all(&payload).await.unwrap();
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !writer.is_finished(),
            "4 MB went into a 64 KiB pipe that nobody reads"
        );
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).await.unwrap();
        writer.await.unwrap();
        assert_eq!(out.len(), expected.len());
        assert!(out == expected, "data changed on the way through cat");
        assert!(child.wait().await.unwrap().success());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_child_that_closed_stdin_gives_broken_pipe_not_sigpipe() {
    timeout(LIMIT, async {
        let mut child = Command::new("sh")
            .args(["-c", "exec 0<&-; echo closed; sleep 30"])
            .stdio_pipes()
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = child.take_stdout().unwrap();
        let mut line = [0u8; 7];
        stdout.read_exact(&mut line).await.unwrap();
        assert_eq!(&line, b"closed\n");
        let err = child.write_all(&[0u8; 100_000]).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
        assert!(matches!(err, Error::Io(_)));
    })
    .await
    .unwrap();
}

/// Rust programs ignore SIGPIPE, but a library user may have restored the default (under which
/// SIGPIPE kills the process): a broken pipe must still be only an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_pipe_with_default_sigpipe_disposition_does_not_kill_the_parent() {
    // SAFETY: setting a signal disposition; this test runs in its own process under nextest.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    timeout(LIMIT, async {
        for _ in 0..20 {
            let mut child = Command::new("true").stdin(ChildFd::Input).spawn().unwrap();
            child.wait().await.unwrap();
            let mut stdin = child.take_stdin().unwrap();
            let err = stdin.write_all(b"nobody reads this").await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        }
        // SIGPIPE is not left pending either (it would kill us once unblocked).
        // SAFETY: sigpending fills a local set.
        let pending = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut set);
            libc::sigismember(&set, libc::SIGPIPE)
        };
        assert_eq!(pending, 0);
    })
    .await
    .unwrap();
    // SAFETY: a plain system call with no memory-safety preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

#[tokio::test]
async fn closing_stdin_gives_the_child_eof() {
    timeout(LIMIT, async {
        let mut child = Command::new("sh")
            .args([
                "-c",
                "n=0; while read l; do n=$((n+1)); done; echo \"eof after $n\"",
            ])
            .stdio_pipes()
            .spawn()
            .unwrap();
        child.write_all(b"a\nb\nc\n").await.unwrap();
        child.close_stdin();
        let mut stdout = child.take_stdout().unwrap();
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"eof after 3\n");
        assert!(child.wait().await.unwrap().success());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn closing_stdout_makes_the_childs_writes_fail_with_epipe() {
    timeout(LIMIT, async {
        // With SIGPIPE ignored the shell sees the EPIPE error itself...
        let mut child = Command::new("sh")
            .args([
                "-c",
                "trap '' PIPE; read go; echo data; echo \"status $?\" >&2",
            ])
            .stdio_pipes()
            .spawn()
            .unwrap();
        child.close_fd(1);
        child.write_all(b"go\n").await.unwrap();
        let mut err = String::new();
        let mut stderr = child.take_stderr().unwrap();
        stderr.read_to_string(&mut err).await.unwrap();
        assert!(err.ends_with("status 1\n"), "stderr was {err:?}");
        child.wait().await.unwrap();

        // ...and with the default disposition (which the child has even though this Rust
        // parent ignores SIGPIPE) it is killed by SIGPIPE.
        let mut child = Command::new("sh")
            .args(["-c", "read go; echo data; echo survived >&2"])
            .stdio_pipes()
            .spawn()
            .unwrap();
        child.close_fd(1);
        child.write_all(b"go\n").await.unwrap();
        let reason = child.wait().await.unwrap();
        assert_eq!(
            reason,
            ExitReason::Signaled {
                signal: Signal::PIPE,
                core_dumped: false
            }
        );
        assert_eq!(child.wait_with_output().await.unwrap().stderr, b"");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn close_all_closes_every_pipe_and_unknown_fds_are_ignored() {
    timeout(LIMIT, async {
        let mut child = Command::new("sh")
            .args(["-c", "cat; echo done-reading >/dev/null; sleep 0.2; exit 5"])
            .stdio_pipes()
            .spawn()
            .unwrap();
        child.close_fd(42); // not in the map: nothing happens
        child.close_all();
        let mut closed = Vec::new();
        let mut order = Vec::new();
        while let Some(event) = child.next_event().await.unwrap() {
            match event {
                Event::Closed { fd } => closed.push(fd),
                Event::Exited(_) => order.push("exited"),
                Event::Ended(reason) => {
                    order.push("ended");
                    assert_eq!(reason, ExitReason::Exited(5));
                }
                Event::Data { .. } => panic!("no pipe was open to deliver data"),
            }
        }
        closed.sort();
        assert_eq!(closed, vec![0, 1, 2]);
        assert_eq!(order, vec!["exited", "ended"]);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn readers_are_streams_of_chunks() {
    timeout(LIMIT, async {
        let mut child = Command::new("sh")
            .args(["-c", "for i in 1 2 3; do echo chunk$i; sleep 0.3; done"])
            .stdout(ChildFd::Output)
            .spawn()
            .unwrap();
        let mut out = child.take_stdout().unwrap();
        let mut chunks = Vec::new();
        while let Some(chunk) = out.chunk().await.unwrap() {
            chunks.push(String::from_utf8(chunk).unwrap());
        }
        assert_eq!(chunks.concat(), "chunk1\nchunk2\nchunk3\n");
        assert!(
            chunks.len() >= 2,
            "separate writes a while apart: {chunks:?}"
        );
        assert!(child.wait().await.unwrap().success());
    })
    .await
    .unwrap();
}

/// `fcntl(F_GETPIPE_SZ)` of a pipe end.
fn pipe_size(fd: &impl std::os::fd::AsRawFd) -> i32 {
    // SAFETY: F_GETPIPE_SZ only reads.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) }
}

#[tokio::test]
async fn busy_pipes_grow_and_quiet_ones_stay_small() {
    timeout(LIMIT, async {
        let mut child = Command::new("cat").stdio_pipes().spawn().unwrap();
        let mut stdin = child.take_stdin().unwrap();
        let mut stdout = child.take_stdout().unwrap();
        let stderr = child.take_stderr().unwrap();
        assert_eq!(pipe_size(&stdin), 65536);
        assert_eq!(pipe_size(&stdout), 65536);
        let writer = tokio::spawn(async move {
            stdin.write_all(&vec![7u8; 8 << 20]).await.unwrap();
            pipe_size(&stdin)
        });
        // Read slowly at first so that cat finds its output pipe full.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0;
        let mut grown = 0;
        while total < 8 << 20 {
            total += stdout.read(&mut buf).await.unwrap();
            grown = grown.max(pipe_size(&stdout));
        }
        assert_eq!(writer.await.unwrap(), 1 << 20, "stdin pipe did not grow");
        assert_eq!(grown, 1 << 20, "stdout pipe did not grow");
        assert_eq!(pipe_size(&stderr), 65536, "an unused pipe grew");
        child.kill().await.unwrap();
    })
    .await
    .unwrap();
}
