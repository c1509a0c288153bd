//! Lock-file records (`PID\nhost=HOST\ntime=RFC3339\n`, read by [`pidward::lockfile::read`]
//! from a real file): an empty file records nobody; an owner read has a PID in `1..=pid_max`
//! (the one the PID-file parser reads from the same bytes), a non-empty trimmed host on one
//! line and a time after the epoch; the record written back in the owner's format reads as
//! the same owner (at the millisecond precision of the format).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use pidward::lockfile::{Owner, read};
use pidward::time::Rfc3339;

/// A file of this process's own in memory (or the temporary directory), removed after each
/// check.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let base = std::path::Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_owned()
        } else {
            std::env::temp_dir()
        };
        base.join(format!("pidward-fuzz-record-{}.lock", std::process::id()))
    })
}

pub fn check(data: &[u8]) {
    let path = scratch();
    check_file(path, data);
    let _ = std::fs::remove_file(path);
}

fn check_file(path: &PathBuf, data: &[u8]) {
    std::fs::write(path, data).expect("write the record");
    let owner = match read(path) {
        Ok(None) => {
            assert!(
                data.is_empty(),
                "a {}-byte record read as nobody",
                data.len()
            );
            return;
        }
        Ok(Some(owner)) => owner,
        Err(_) => {
            assert!(!data.is_empty(), "an empty file is no error");
            return;
        }
    };
    let pid_max = pidward::liveness::pid_max();
    assert!((1..=pid_max).contains(&owner.pid));
    assert_eq!(pidward::pidfile::parse(data, pid_max), Ok(owner.pid));
    assert!(!owner.host.is_empty() && owner.host == owner.host.trim());
    assert!(!owner.host.contains('\n'), "host {:?}", owner.host);
    assert!(owner.time >= UNIX_EPOCH);
    let record = format!(
        "{}\nhost={}\ntime={}\n",
        owner.pid,
        owner.host,
        Rfc3339(owner.time)
    );
    std::fs::write(path, &record).expect("write the record");
    let since = owner.time.duration_since(UNIX_EPOCH).unwrap();
    let want = Owner {
        time: UNIX_EPOCH + Duration::new(since.as_secs(), since.subsec_millis() * 1_000_000),
        ..owner
    };
    match read(path) {
        Ok(Some(again)) => assert_eq!(again, want, "{record:?}"),
        other => panic!("{record:?} read back as {other:?}"),
    }
}
