//! Pushes N bytes through a child `cat` and reads them back concurrently.
//!
//! Usage: `pipe_throughput [BYTES]` (default 1 GiB). Writes BYTES to the child's stdin in 1 MiB
//! vectored writes while another task reads its stdout into a 1 MiB buffer, checks that exactly
//! BYTES came back, and prints the throughput in MB/s (10^6 bytes per second) as the last word
//! of the last line.

use std::process::ExitCode;
use std::time::Instant;

use pidward::process::{ChildFd, Command};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHUNK: usize = 1 << 20;

fn main() -> ExitCode {
    let total: u64 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 1 << 30,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("pipe_throughput: BYTES must be a whole number of bytes: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(total)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipe_throughput: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(total: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut child = Command::new("cat")
        .stdin(ChildFd::Input)
        .stdout(ChildFd::Output)
        .spawn()?;
    let mut stdin = child.take_stdin().ok_or("stdin is not a pipe")?;
    let mut stdout = child.take_stdout().ok_or("stdout is not a pipe")?;

    let started = Instant::now();
    let writer = tokio::spawn(async move {
        let block = vec![0x5au8; CHUNK];
        let mut left = total;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            stdin.write_all(&block[..n]).await?;
            left -= n as u64;
        }
        drop(stdin); // EOF for cat
        Ok::<(), std::io::Error>(())
    });
    let mut buf = vec![0u8; CHUNK];
    let mut received: u64 = 0;
    loop {
        let n = stdout.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        received += n as u64;
    }
    let elapsed = started.elapsed().as_secs_f64();
    writer.await??;
    let reason = child.wait().await?;
    if !reason.success() {
        return Err(format!("cat ended with {reason}").into());
    }
    if received != total {
        return Err(format!("sent {total} bytes but received {received}").into());
    }
    println!(
        "pidward: {total} bytes through cat in {elapsed:.3} s, MB/s {:.1}",
        total as f64 / elapsed / 1e6
    );
    Ok(())
}
