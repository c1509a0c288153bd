//! usage: pipe_tokio BYTES
//!
//! BYTES through a child `cat` with `tokio::process`, written the same way as pidward's
//! `examples/pipe_throughput.rs`: a two-worker runtime, one task writing 1 MiB chunks to the
//! child's stdin while the main task reads its stdout into a 1 MiB buffer. Prints MB/s as the
//! last word.

use std::process::Stdio;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHUNK: usize = 1 << 20;

fn main() {
    let total: u64 = bench::arg(1, "BYTES");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let mut child = tokio::process::Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn cat");
        let mut stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let started = Instant::now();
        let writer = tokio::spawn(async move {
            let block = vec![0x5au8; CHUNK];
            let mut left = total;
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
                stdin.write_all(&block[..n]).await.expect("write");
                left -= n as u64;
            }
        });
        let mut buf = vec![0u8; CHUNK];
        let mut received: u64 = 0;
        loop {
            let n = stdout.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            received += n as u64;
        }
        let elapsed = started.elapsed().as_secs_f64();
        writer.await.expect("writer");
        assert!(child.wait().await.expect("wait").success());
        assert_eq!(received, total, "bytes back from cat");
        println!(
            "tokio: {total} bytes through cat in {elapsed:.3} s, MB/s {:.1}",
            total as f64 / elapsed / 1e6
        );
    });
}
