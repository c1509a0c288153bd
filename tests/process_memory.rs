//! Flow control: a fast producer with a paused (or slow) reader keeps the parent's memory flat.
#![cfg(feature = "process")]

use std::time::Duration;

use pidward::process::{Command, Event, ExitReason};
use tokio::io::AsyncReadExt;
use tokio::time::{sleep, timeout};

const TOTAL: u64 = 256 << 20;
/// Far below the 256 MiB that pass through, far above the runtime's own needs.
const BOUND: u64 = 64 << 20;

/// A `kB` field of /proc/self/status, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .unwrap();
    kb * 1024
}

/// Bytes the process has written so far (/proc/<pid>/io wchar).
fn written_by(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .unwrap()
        .parse()
        .unwrap()
}

/// Waits until the child's written byte count stops moving (it blocked on the full pipe, or
/// finished), and returns it.
async fn stalled_at(pid: u32) -> u64 {
    let mut last = written_by(pid);
    for _ in 0..100 {
        sleep(Duration::from_millis(200)).await;
        let now = written_by(pid);
        if now == last && now > 0 {
            return now;
        }
        last = now;
    }
    panic!("the child never stopped writing ({last} bytes so far)");
}

fn producer() -> Command {
    let mut cmd = Command::new("head");
    cmd.args(["-c", &TOTAL.to_string(), "/dev/zero"])
        .stdio_pipes();
    cmd
}

#[tokio::test]
async fn a_paused_event_stream_reader_blocks_the_child_and_memory_stays_flat() {
    timeout(Duration::from_secs(120), async {
        let rss_before = status_bytes("VmRSS");
        let mut child = producer().spawn().unwrap();
        child.close_stdin();
        let pid = child.id().unwrap();
        child.pause(1).unwrap();

        // While paused nothing is read; the child fills the pipe and blocks.
        let paused = async {
            loop {
                match child.next_event().await.unwrap() {
                    Some(Event::Data { fd: 1, .. }) => panic!("data read from a paused fd"),
                    Some(Event::Closed { fd: 0 }) => {}
                    other => panic!("unexpected while paused: {other:?}"),
                }
            }
        };
        let (stalled, _) = tokio::join!(stalled_at(pid), async {
            assert!(timeout(Duration::from_secs(3), paused).await.is_err());
        });
        assert!(
            stalled <= 2 << 20,
            "the child wrote {stalled} bytes while paused: more than a pipe's worth"
        );

        // Resume, consume slowly with more pauses, and count.
        child.resume(1).unwrap();
        let mut received: u64 = 0;
        let mut chunks: u64 = 0;
        let mut reason = None;
        while let Some(event) = child.next_event().await.unwrap() {
            match event {
                Event::Data { fd: 1, data } => {
                    received += data.len() as u64;
                    chunks += 1;
                    if chunks.is_multiple_of(64) {
                        // A slow consumer: pause, let time pass, resume.
                        child.pause(1).unwrap();
                        sleep(Duration::from_millis(20)).await;
                        child.resume(1).unwrap();
                    }
                }
                Event::Ended(r) => reason = Some(r),
                _ => {}
            }
        }
        assert_eq!(received, TOTAL);
        assert_eq!(reason, Some(ExitReason::Exited(0)));
        let peak = status_bytes("VmHWM");
        eprintln!("VmRSS before {rss_before} bytes, VmHWM after {peak} bytes");
        assert!(
            peak < rss_before + BOUND,
            "peak RSS {peak} grew more than {BOUND} over {rss_before} while moving {TOTAL}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_slow_async_reader_keeps_memory_flat() {
    timeout(Duration::from_secs(120), async {
        let rss_before = status_bytes("VmRSS");
        let mut child = producer().spawn().unwrap();
        let mut stdout = child.take_stdout().unwrap();
        // Not reading at all for a while: the child blocks on the full pipe.
        let stalled = stalled_at(child.id().unwrap()).await;
        assert!(stalled <= 2 << 20, "the child wrote {stalled} bytes unread");

        let mut buf = vec![0u8; 64 * 1024];
        let mut received: u64 = 0;
        loop {
            let n = stdout.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            received += n as u64;
            if received % (16 << 20) < n as u64 {
                sleep(Duration::from_millis(10)).await;
            }
        }
        assert_eq!(received, TOTAL);
        assert!(child.wait().await.unwrap().success());
        let peak = status_bytes("VmHWM");
        eprintln!("VmRSS before {rss_before} bytes, VmHWM after {peak} bytes");
        assert!(
            peak < rss_before + BOUND,
            "peak RSS {peak} grew more than {BOUND} over {rss_before}"
        );
    })
    .await
    .unwrap();
}
