//! usage: pidfile_cycle PATH OPS BATCHES
//!
//! `PidFile::acquire(PATH)` then `release()`, OPS times per batch; prints the median ns per
//! cycle over BATCHES batches (after one warm-up batch), like bench/c/pidfile_cycle.c.

use pidward::pidfile::PidFile;

fn main() {
    let path: String = bench::arg(1, "PATH");
    let ops: u32 = bench::arg(2, "OPS");
    let batches: u32 = bench::arg(3, "BATCHES");
    let ns = bench::batches(ops, batches, || {
        let guard = PidFile::acquire(&path).expect("acquire");
        guard.release().expect("release");
    });
    assert!(!std::path::Path::new(&path).exists(), "{path} left behind");
    println!("pidward ns/op {ns:.0}");
}
