//! The one-shot helpers: `Command::output`, `Command::status`, `Child::wait_with_output`.
#![cfg(feature = "process")]

use std::time::Duration;

use pidward::process::{ChildFd, Command, Error, ExitReason};
use tokio::io::AsyncWriteExt;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);

/// A shell script that writes `bytes` bytes of `out` lines to stdout and `err` lines to
/// stderr, both at the same time (two background producers).
fn both_streams(bytes: usize) -> String {
    format!(
        "yes out | head -c {bytes} & yes err | head -c {bytes} >&2 & wait; echo tail; echo tail >&2"
    )
}

/// `text` is `line\n` repeated, cut at `len` bytes, then `tail\n`.
fn check_stream(data: &[u8], line: &[u8], len: usize) {
    assert_eq!(data.len(), len + 5, "length");
    let (body, tail) = data.split_at(len);
    assert_eq!(tail, b"tail\n");
    for (i, chunk) in body.chunks(line.len()).enumerate() {
        assert_eq!(chunk, &line[..chunk.len()], "at byte {}", i * line.len());
    }
}

#[tokio::test]
async fn output_collects_stdout_stderr_and_the_reason() {
    let out = Command::new("sh")
        .args(["-c", "echo to-out; echo to-err >&2; exit 3"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.stdout, b"to-out\n");
    assert_eq!(out.stderr, b"to-err\n");
    assert_eq!(out.status, ExitReason::Exited(3));
    let std_out: std::process::Output = out.into();
    assert_eq!(std_out.status.code(), Some(3));
    assert_eq!(std_out.stdout, b"to-out\n");
}

#[tokio::test]
async fn big_outputs_on_both_streams_at_once_do_not_deadlock() {
    // 48 MiB on each stream, written concurrently: far more than both pipes hold, so a
    // collector that read one stream to its end before the other would hang.
    const BYTES: usize = 48 << 20;
    timeout(LIMIT, async {
        let out = Command::new("sh")
            .args(["-c", &both_streams(BYTES)])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{}", out.status);
        check_stream(&out.stdout, b"out\n", BYTES);
        check_stream(&out.stderr, b"err\n", BYTES);

        // The same through wait_with_output, with a stdin pipe the child reads first.
        let mut child = Command::new("sh")
            .args(["-c", &format!("cat >/dev/null; {}", both_streams(BYTES))])
            .stdio_pipes()
            .spawn()
            .unwrap();
        child.write_all(&vec![b'x'; 4 << 20]).await.unwrap();
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.success(), "{}", out.status);
        check_stream(&out.stdout, b"out\n", BYTES);
        check_stream(&out.stderr, b"err\n", BYTES);
    })
    .await
    .expect("output() deadlocked on full pipes");
}

#[tokio::test]
async fn output_gives_stdin_dev_null_and_respects_explicit_mappings() {
    let out = Command::new("sh")
        .args(["-c", "readlink /proc/self/fd/0; cat; echo cat-done"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.stdout, b"/dev/null\ncat-done\n");

    // An explicit mapping wins over the helper's default: stderr to /dev/null.
    let out = Command::new("sh")
        .args(["-c", "echo out; echo err >&2"])
        .stderr(ChildFd::Null)
        .output()
        .await
        .unwrap();
    assert_eq!(
        (&out.stdout[..], &out.stderr[..]),
        (&b"out\n"[..], &b""[..])
    );
}

#[tokio::test]
async fn status_inherits_and_closes_mapped_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fds");
    // Inherited: the child's fd 1 is the test's fd 1.
    let status = Command::new("sh")
        .args([
            "-c",
            "x=$(readlink /proc/$$/fd/1); echo \"$x\" > \"$0\"; exit 4",
        ])
        .arg(&file)
        .status()
        .await
        .unwrap();
    assert_eq!(status.code(), Some(4));
    let ours = std::fs::read_link("/proc/self/fd/1").unwrap();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim_end(),
        ours.to_str().unwrap()
    );

    // A stdin pipe is closed at once: `cat` reads end of file and ends.
    let status = timeout(LIMIT, Command::new("cat").stdin(ChildFd::Input).status())
        .await
        .expect("status() left the stdin pipe open")
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn wait_with_output_closes_stdin_and_skips_taken_pipes() {
    timeout(LIMIT, async {
        let mut child = Command::new("sh")
            .args(["-c", "cat; echo err >&2"])
            .stdio_pipes()
            .spawn()
            .unwrap();
        let stderr = child.take_stderr().unwrap();
        child.write_all(b"echoed").await.unwrap();
        let out = child.wait_with_output().await.unwrap();
        assert_eq!(out.stdout, b"echoed");
        assert_eq!(out.stderr, b"", "a taken pipe is the taker's");
        assert!(out.status.success());
        drop(stderr);

        // A taken stdin stays open: the taker closes it.
        let mut child = Command::new("cat").stdio_pipes().spawn().unwrap();
        let mut stdin = child.take_stdin().unwrap();
        let collect = tokio::spawn(child.wait_with_output());
        stdin.write_all(b"late").await.unwrap();
        drop(stdin);
        assert_eq!(collect.await.unwrap().unwrap().stdout, b"late");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn extra_output_fds_are_drained_so_the_child_finishes() {
    timeout(LIMIT, async {
        let out = Command::new("sh")
            .args(["-c", "head -c 8388608 /dev/zero >&3; echo finished"])
            .fd(3, ChildFd::Output)
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"finished\n");
        assert!(out.status.success());
    })
    .await
    .expect("a child writing to an unread extra pipe blocked output()");
}

#[tokio::test]
async fn output_and_status_fail_like_spawn() {
    for err in [
        Command::new("pidward-no-such-program")
            .output()
            .await
            .unwrap_err(),
        Command::new("pidward-no-such-program")
            .status()
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, Error::Spawn { .. }), "{err:?}");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}

#[tokio::test]
async fn a_command_runs_its_helpers_many_times() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo $X"]).env("X", "again");
    for _ in 0..3 {
        assert_eq!(cmd.output().await.unwrap().stdout, b"again\n");
        assert!(cmd.status().await.unwrap().success());
    }
}
