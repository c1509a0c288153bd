//! usage: idle_children std|tokio|pidward N
//!
//! Spawns N `sleep 1000` children with pipes on stdin, stdout and stderr (the parent keeps its
//! ends), waits 200 ms, prints this process's peak RSS (VmHWM) in KiB, then kills and reaps
//! them. tokio and pidward run on a current-thread runtime.

use std::process::Stdio;
use std::time::Duration;

fn main() {
    let mode: String = bench::arg(1, "MODE");
    let n: usize = bench::arg(2, "N");
    let kib = match mode.as_str() {
        "std" => {
            let mut children: Vec<_> = (0..n)
                .map(|_| {
                    std::process::Command::new("sleep")
                        .arg("1000")
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .expect("spawn")
                })
                .collect();
            std::thread::sleep(Duration::from_millis(200));
            let kib = bench::peak_rss_kib();
            for c in &mut children {
                c.kill().expect("kill");
                c.wait().expect("wait");
            }
            kib
        }
        "tokio" => current_thread().block_on(async {
            let mut children: Vec<_> = (0..n)
                .map(|_| {
                    tokio::process::Command::new("sleep")
                        .arg("1000")
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .expect("spawn")
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(200)).await;
            let kib = bench::peak_rss_kib();
            for c in &mut children {
                c.kill().await.expect("kill");
            }
            kib
        }),
        #[cfg(feature = "pidward-process")]
        "pidward" => current_thread().block_on(async {
            // Pipes on 0, 1 and 2, as for std and tokio above.
            let mut children: Vec<_> = (0..n)
                .map(|_| {
                    pidward::process::Command::new("sleep")
                        .arg("1000")
                        .stdio_pipes()
                        .spawn()
                        .expect("spawn")
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(200)).await;
            let kib = bench::peak_rss_kib();
            for c in &mut children {
                c.kill().await.expect("kill");
            }
            kib
        }),
        other => {
            eprintln!("idle_children: mode {other:?} is not built in");
            std::process::exit(2);
        }
    };
    println!("{mode} peak RSS KiB {kib}");
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
