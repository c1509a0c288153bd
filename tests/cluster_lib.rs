//! `pidward::cluster` against a real etcd: keys, conflicts, waiting, readers, loss.
#![cfg(feature = "etcd")]

mod support;

use std::time::{Duration, Instant};

use pidward::cluster::{Endpoint, Error, Holder, Lock, LossReason, Options, Wait};
use support::cluster::{Etcd, Proxy};

fn opts(endpoint: &str) -> Options {
    Options::new(Endpoint::parse_list(endpoint).unwrap())
        .ttl(Duration::from_secs(4))
        .call_timeout(Duration::from_secs(2))
}

/// `poll(2)` on the lost fd for `within`.
fn lost_within(lock: &Lock, within: Duration) -> bool {
    let fd = lock.lost_fd();
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let ts = rustix::event::Timespec {
        tv_sec: within.as_secs() as _,
        tv_nsec: within.subsec_nanos() as _,
    };
    rustix::event::poll(&mut fds, Some(&ts)).unwrap() > 0
}

#[test]
fn key_layout_conflict_and_fencing_token() {
    let etcd = Etcd::start();
    let o = opts(&etcd.endpoint()).holder(Holder::this_process(vec!["./backup.sh".into()]));
    let first = Lock::acquire("jobs/backup", &o).unwrap();
    assert_eq!(first.key(), format!("jobs/backup/{:x}", first.lease()));
    assert_eq!(etcd.keys("jobs/backup/"), [first.key()]);

    let start = Instant::now();
    let err = Lock::acquire("jobs/backup", &o.clone().wait(Wait::No)).unwrap_err();
    let Error::Locked { name, holder } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(name, "jobs/backup");
    assert_eq!(holder.key, first.key());
    assert_eq!(holder.pid, Some(std::process::id()));
    let msg = err.to_string();
    assert!(msg.contains("(./backup.sh), running for"), "{msg}");
    assert!(start.elapsed() < Duration::from_secs(2));
    // The failed contender's lease was revoked: no stray key.
    assert_eq!(etcd.keys("jobs/backup/"), [first.key()]);

    let err = Lock::acquire(
        "jobs/backup",
        &o.clone().wait(Wait::Timeout(Duration::from_millis(700))),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TimedOut {
                holder: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(etcd.keys("jobs/backup/"), [first.key()]);

    let rev = first.revision();
    first.release(Duration::from_secs(2)).unwrap();
    assert!(etcd.keys("jobs/backup/").is_empty());
    let second = Lock::acquire("jobs/backup", &o.clone().wait(Wait::No)).unwrap();
    assert!(second.revision() > rev, "fencing token must rise");
}

#[test]
fn a_waiter_gets_the_lock_when_the_holder_releases() {
    let etcd = Etcd::start();
    let o = opts(&etcd.endpoint());
    let first = Lock::acquire("w", &o).unwrap();
    let t = std::thread::spawn({
        let o = o.clone();
        move || {
            let l = Lock::acquire("w", &o.wait(Wait::Timeout(Duration::from_secs(10)))).unwrap();
            (Instant::now(), l.revision())
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let released = Instant::now();
    let rev = first.revision();
    drop(first);
    let (got, rev2) = t.join().unwrap();
    assert!(got >= released && got - released < Duration::from_secs(1));
    assert!(rev2 > rev);
}

#[test]
fn readers_share_writers_exclude() {
    let etcd = Etcd::start();
    let o = opts(&etcd.endpoint());
    let r1 = Lock::acquire("rw", &o.clone().shared(true)).unwrap();
    let r2 = Lock::acquire("rw", &o.clone().shared(true).wait(Wait::No)).unwrap();
    assert!(r1.key().starts_with("rw/s-"));
    let err = Lock::acquire("rw", &o.clone().wait(Wait::No)).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    drop(r1);
    drop(r2);
    let w = Lock::acquire("rw", &o.clone().wait(Wait::No)).unwrap();
    let err = Lock::acquire("rw", &o.clone().shared(true).wait(Wait::No)).unwrap_err();
    let Error::Locked { holder, .. } = err else {
        panic!()
    };
    assert_eq!(holder.key, w.key());
}

#[test]
fn partition_is_declared_before_the_lease_can_expire() {
    let etcd = Etcd::start();
    let proxy = Proxy::to(etcd.port);
    let o = opts(&proxy.endpoint()).grace(Duration::from_secs(1));
    let lock = Lock::acquire("p", &o).unwrap();
    // Renewals go through: not lost over more than one TTL.
    assert!(!lost_within(&lock, Duration::from_secs(5)));
    proxy.freeze(true);
    let frozen = Instant::now();
    let direct = opts(&etcd.endpoint()).wait(Wait::Timeout(Duration::from_secs(15)));
    let waiter = std::thread::spawn(move || {
        let l = Lock::acquire("p", &direct).unwrap();
        (Instant::now(), l)
    });
    assert!(
        lost_within(&lock, Duration::from_secs(4)),
        "loss not declared"
    );
    let lost = Instant::now();
    let expires = lock.expires().unwrap();
    // Declared at least the grace before the earliest possible expiry.
    assert!(
        expires >= lost + Duration::from_secs(1),
        "{:?}",
        expires - lost
    );
    let loss = lock.loss().unwrap();
    assert_eq!(loss.reason, LossReason::Unrenewed);
    assert!(loss.error.is_some());
    let (acquired, _w) = waiter.join().unwrap();
    assert!(
        acquired > lost + Duration::from_secs(1),
        "new holder too early"
    );
    assert!(acquired - frozen < Duration::from_secs(8));
    // Releasing through the frozen proxy is bounded.
    let start = Instant::now();
    assert!(lock.release(Duration::from_millis(500)).is_err());
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn deleting_the_key_is_a_loss() {
    let etcd = Etcd::start();
    let lock = Lock::acquire("d", &opts(&etcd.endpoint())).unwrap();
    let out = etcd.etcdctl().args(["del", lock.key()]).output().unwrap();
    assert!(out.status.success());
    assert!(lost_within(&lock, Duration::from_secs(3)));
    assert_eq!(lock.loss().unwrap().reason, LossReason::KeyDeleted);
}

#[test]
fn unreachable_and_bad_input() {
    let port = support::cluster::free_port();
    let start = Instant::now();
    let o = opts(&format!("127.0.0.1:{port}")).wait(Wait::Timeout(Duration::from_secs(1)));
    let err = Lock::acquire("u", &o).unwrap_err();
    assert!(err.is_cluster_failure(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(matches!(
        Lock::acquire("", &o).unwrap_err(),
        Error::InvalidName { .. }
    ));
    assert_eq!(
        Options::new(vec![])
            .ttl(Duration::from_secs(1))
            .ttl_in_effect(),
        Duration::from_secs(2)
    );
}

#[test]
fn etcdctl_lock_and_pidward_exclude_each_other() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("in");
    let mut ctl = etcd
        .etcdctl()
        .args(["lock", "shared-name", "--", "sh", "-c"])
        .arg(format!("touch {}; sleep 2", flag.display()))
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while !flag.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(flag.exists(), "etcdctl lock did not start its command");
    let o = opts(&etcd.endpoint());
    let err = Lock::acquire("shared-name", &o.clone().wait(Wait::No)).unwrap_err();
    let Error::Locked { holder, .. } = err else {
        panic!("{err:?}")
    };
    assert!(holder.key.starts_with("shared-name/") && holder.pid.is_none());
    // Waiting: we get it once etcdctl's command is done.
    let lock = Lock::acquire(
        "shared-name",
        &o.clone().wait(Wait::Timeout(Duration::from_secs(10))),
    )
    .unwrap();
    assert!(
        ctl.try_wait().unwrap().is_some() || {
            std::thread::sleep(Duration::from_millis(300));
            ctl.try_wait().unwrap().is_some()
        }
    );
    // And the other way round: etcdctl waits for us.
    std::fs::remove_file(&flag).unwrap();
    let mut ctl = etcd
        .etcdctl()
        .args(["lock", "shared-name", "touch"])
        .arg(&flag)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(!flag.exists(), "etcdctl got the lock while pidward held it");
    drop(lock);
    assert!(ctl.wait().unwrap().success());
    assert!(flag.exists());
}
