//! PID-file micro-benchmarks: the acquire+release cycle and `status` of a held file.
//!
//! Run with `cargo bench --bench pidfile`. The files live in a temporary directory (on the
//! file system of `TMPDIR`, usually the disk); bench/compare.sh measures the same cycle on
//! tmpfs and on the disk beside C and Python equivalents.

use pidward::pidfile::{self, PidFile, Status};

fn main() {
    divan::main();
}

/// `PidFile::acquire` then `release`: open, lock, verify, write, verify, unlink, close.
#[divan::bench]
fn acquire_release(bencher: divan::Bencher) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("cycle.pid");
    bencher.bench_local(|| {
        let guard = PidFile::acquire(&path).expect("acquire");
        guard.release().expect("release");
    });
    assert!(!path.exists(), "release left {} behind", path.display());
}

/// `pidfile::status` of a file this process holds (locked, so "running").
#[divan::bench]
fn status_of_locked_file(bencher: divan::Bencher) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("held.pid");
    let guard = PidFile::acquire(&path).expect("acquire");
    assert!(matches!(
        pidfile::status(&path),
        Status::Running { locked: true, .. }
    ));
    bencher.bench_local(|| pidfile::status(divan::black_box(&path)));
    drop(guard);
}

/// `pidfile::read`: open, read the first line, parse.
#[divan::bench]
fn read_pid(bencher: divan::Bencher) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("held.pid");
    let guard = PidFile::acquire(&path).expect("acquire");
    bencher.bench_local(|| pidfile::read(divan::black_box(&path)).expect("read"));
    drop(guard);
}
