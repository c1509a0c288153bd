//! Starts `/bin/true` N times with `pidward::process::Command`, one after the other, and
//! prints the mean time per spawn-and-wait in microseconds as the last word of the last line.
//!
//! Usage: `spawn_rate [N]` (default 2000).

use std::time::Instant;

use pidward::process::Command;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), pidward::process::Error> {
    let n: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N is a number"))
        .unwrap_or(2000);
    let start = Instant::now();
    for _ in 0..n {
        let mut child = Command::new("/bin/true").spawn()?;
        assert!(child.wait().await?.success());
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("{n} spawns of /bin/true, mean per spawn and wait: {per:.1}");
    Ok(())
}
