//! Shared helpers for the benchmark programs: argument parsing, medians, peak RSS.

use std::time::Instant;

/// The `i`-th command-line argument as a number, or exit 2 naming it.
pub fn arg<T: std::str::FromStr>(i: usize, name: &str) -> T {
    let Some(text) = std::env::args().nth(i) else {
        eprintln!("missing argument {name}");
        std::process::exit(2);
    };
    text.parse().unwrap_or_else(|_| {
        eprintln!("{name} must be a number, not {text:?}");
        std::process::exit(2);
    })
}

/// The median of the samples (sorted in place).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs `op` in one warm-up batch and `batches` timed batches of `ops` calls; returns the
/// median ns per call.
pub fn batches(ops: u32, batches: u32, mut op: impl FnMut()) -> f64 {
    for _ in 0..ops {
        op();
    }
    let mut per_op: Vec<f64> = (0..batches)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..ops {
                op();
            }
            t0.elapsed().as_nanos() as f64 / f64::from(ops)
        })
        .collect();
    median(&mut per_op)
}

/// Peak resident set size of this process (`VmHWM` in /proc/self/status), in KiB.
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}
