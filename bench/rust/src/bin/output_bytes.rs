//! usage: output_bytes tokio|pidward BYTES
//!
//! `Command::output()` of a child that writes BYTES to stdout (`dd if=/dev/zero bs=1M`, so the
//! child is never the bottleneck) and a line to stderr: the time from the call to its return,
//! spawn and reaping included. Checks that exactly BYTES came back; prints MB/s (10^6 bytes per
//! second) as the last word. BYTES must be a multiple of 1 MiB. Both on a current-thread
//! runtime.

use std::time::Instant;

const MIB: u64 = 1 << 20;

fn main() {
    let mode: String = bench::arg(1, "MODE");
    let total: u64 = bench::arg(2, "BYTES");
    if total % MIB != 0 {
        eprintln!("BYTES must be a multiple of 1 MiB");
        std::process::exit(2);
    }
    let script = format!(
        "dd if=/dev/zero bs=1048576 count={} status=none; echo done >&2",
        total / MIB
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (elapsed, stdout, stderr, ok) = runtime.block_on(async {
        match mode.as_str() {
            "tokio" => {
                let t0 = Instant::now();
                let out = tokio::process::Command::new("sh")
                    .args(["-c", &script])
                    .output()
                    .await
                    .expect("output");
                (t0.elapsed(), out.stdout.len(), out.stderr, out.status.success())
            }
            #[cfg(feature = "pidward-process")]
            "pidward" => {
                let t0 = Instant::now();
                let out = pidward::process::Command::new("sh")
                    .args(["-c", &script])
                    .output()
                    .await
                    .expect("output");
                (t0.elapsed(), out.stdout.len(), out.stderr, out.status.success())
            }
            other => {
                eprintln!("output_bytes: mode {other:?} is not built in");
                std::process::exit(2);
            }
        }
    });
    assert!(ok, "the child failed");
    assert_eq!(stdout as u64, total, "stdout length");
    assert_eq!(stderr, b"done\n", "stderr");
    let secs = elapsed.as_secs_f64();
    println!(
        "{mode}: output() of {total} bytes in {secs:.3} s, MB/s {:.1}",
        total as f64 / secs / 1e6
    );
}
