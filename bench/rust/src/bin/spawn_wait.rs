//! usage: spawn_wait std|tokio|pidward N
//!
//! Spawns `/bin/true` and waits for it, N times after 20 warm-up spawns, timing each one;
//! prints the median ns. The child inherits stdin, stdout and stderr (as with posix_spawn).
//! tokio and pidward run on a current-thread runtime.

use std::time::Instant;

const PROGRAM: &str = "/bin/true";

fn main() {
    let mode: String = bench::arg(1, "MODE");
    let n: usize = bench::arg(2, "N");
    let mut times = match mode.as_str() {
        "std" => (0..n + 20)
            .map(|_| {
                let t0 = Instant::now();
                let status = std::process::Command::new(PROGRAM)
                    .spawn()
                    .expect("spawn")
                    .wait()
                    .expect("wait");
                assert!(status.success());
                t0.elapsed().as_nanos() as f64
            })
            .collect::<Vec<_>>(),
        "tokio" => current_thread().block_on(async {
            let mut times = Vec::with_capacity(n + 20);
            for _ in 0..n + 20 {
                let t0 = Instant::now();
                let status = tokio::process::Command::new(PROGRAM)
                    .spawn()
                    .expect("spawn")
                    .wait()
                    .await
                    .expect("wait");
                assert!(status.success());
                times.push(t0.elapsed().as_nanos() as f64);
            }
            times
        }),
        #[cfg(feature = "pidward-process")]
        "pidward" => current_thread().block_on(async {
            // Standard fds are inherited by default, as with std and tokio.
            let mut cmd = pidward::process::Command::new(PROGRAM);
            let mut times = Vec::with_capacity(n + 20);
            for _ in 0..n + 20 {
                let t0 = Instant::now();
                let reason = cmd.spawn().expect("spawn").wait().await.expect("wait");
                assert!(reason.success());
                times.push(t0.elapsed().as_nanos() as f64);
            }
            times
        }),
        other => {
            eprintln!("spawn_wait: mode {other:?} is not built in");
            std::process::exit(2);
        }
    };
    let times = &mut times[20..];
    println!("{mode} ns/op {:.0}", bench::median(times));
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
