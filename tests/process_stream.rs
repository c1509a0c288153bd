//! The handle and its readers as `futures_core::Stream`s, and the pipes as tokio I/O.
#![cfg(feature = "process")]

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use pidward::process::{ChildFd, Command, Event, ExitReason};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn the_event_stream_works_with_stream_combinators() {
    timeout(LIMIT, async {
        let mut child = Command::new("sh")
            .args(["-c", "echo one; sleep 0.1; echo two >&2; exit 6"])
            .stdio_pipes()
            .spawn()
            .unwrap();
        child.close_stdin();
        // Labels of every event, through map + collect.
        let labels: Vec<String> = (&mut child)
            .map(|event| match event.unwrap() {
                Event::Data { fd, data } => format!("data {fd} {}", String::from_utf8_lossy(&data)),
                Event::Closed { fd } => format!("closed {fd}"),
                Event::Exited(r) => format!("exited {r}"),
                Event::Ended(r) => format!("ended {r}"),
            })
            .collect()
            .await;
        assert_eq!(labels.first().unwrap(), "closed 0");
        assert!(labels.contains(&"data 1 one\n".to_owned()), "{labels:?}");
        assert!(labels.contains(&"data 2 two\n".to_owned()), "{labels:?}");
        assert!(
            labels.contains(&"exited exit code 6".to_owned()),
            "{labels:?}"
        );
        assert_eq!(labels.last().unwrap(), "ended exit code 6");
        // A finished stream stays finished.
        assert!(child.next().await.is_none());
        assert_eq!(child.try_wait().unwrap(), Some(ExitReason::Exited(6)));

        // filter_map + take_while: only stdout's data, stopping at the first empty line.
        let mut child = Command::new("sh")
            .args([
                "-c",
                "echo a; sleep 0.1; echo b; sleep 0.1; echo; exec sleep 30",
            ])
            .stdout(ChildFd::Output)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let data: Vec<Vec<u8>> = (&mut child)
            .filter_map(|event| async move {
                match event {
                    Ok(Event::Data { fd: 1, data }) => Some(data),
                    _ => None,
                }
            })
            .take_while(|data| std::future::ready(data != b"\n"))
            .collect()
            .await;
        assert_eq!(data.concat(), b"a\nb\n");
        assert_eq!(
            child.kill().await.unwrap().signal(),
            Some(pidward::Signal::KILL)
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn reader_chunks_are_a_stream() {
    timeout(LIMIT, async {
        let mut child = Command::new("sh")
            .args(["-c", "for i in 1 2 3; do echo chunk$i; sleep 0.2; done"])
            .stdout(ChildFd::Output)
            .stderr(ChildFd::Output)
            .spawn()
            .unwrap();
        let stdout = child.take_stdout().unwrap();
        let chunks: Vec<Vec<u8>> = stdout.try_collect().await.unwrap();
        assert!(chunks.len() >= 2, "writes a while apart: {chunks:?}");
        assert_eq!(chunks.concat(), b"chunk1\nchunk2\nchunk3\n");
        // try_concat on an empty stream: just end of file.
        let stderr = child.take_stderr().unwrap();
        assert_eq!(stderr.try_concat().await.unwrap(), b"");
        assert!(child.wait().await.unwrap().success());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn tokio_copy_pipes_one_child_into_another() {
    timeout(LIMIT, async {
        let mut producer = Command::new("seq")
            .args(["1", "100000"])
            .stdout(ChildFd::Output)
            .spawn()
            .unwrap();
        let mut consumer = Command::new("wc")
            .arg("-l")
            .stdin(ChildFd::Input)
            .stdout(ChildFd::Output)
            .spawn()
            .unwrap();
        let mut from = producer.take_stdout().unwrap();
        let mut to = consumer.take_stdin().unwrap();
        let copied = tokio::io::copy(&mut from, &mut to).await.unwrap();
        assert_eq!(
            copied,
            (1..=100_000u32)
                .map(|n| n.to_string().len() as u64 + 1)
                .sum::<u64>()
        );
        to.shutdown().await.unwrap();
        drop(to);
        let out = consumer.wait_with_output().await.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "100000");
        assert!(producer.wait().await.unwrap().success());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn buf_reader_lines_and_async_write_ext_on_the_pipes() {
    timeout(LIMIT, async {
        let mut child = Command::new("sh")
            .args(["-c", "while read line; do echo \"got $line\"; done"])
            .stdin(ChildFd::Input)
            .stdout(ChildFd::Output)
            .spawn()
            .unwrap();
        let mut stdin = child.take_stdin().unwrap();
        let mut lines = BufReader::new(child.take_stdout().unwrap()).lines();
        for word in ["alpha", "beta", "gamma"] {
            stdin
                .write_all(format!("{word}\n").as_bytes())
                .await
                .unwrap();
            stdin.flush().await.unwrap();
            assert_eq!(
                lines.next_line().await.unwrap().unwrap(),
                format!("got {word}")
            );
        }
        let mut buf = &b"delta\nepsilon\n"[..];
        stdin.write_all_buf(&mut buf).await.unwrap();
        drop(stdin);
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "got delta");
        let mut rest = String::new();
        lines.into_inner().read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "got epsilon\n");
        assert!(child.wait().await.unwrap().success());
    })
    .await
    .unwrap();
}
