//! `pidward lock --etcd` with a host name whose DNS server never answers: pidward gives up
//! within its deadline (exit 68, the name in the message), not after the C library's own
//! timeouts. The test runs pidward in a mount namespace of its own (`unshare -m`) whose
//! `/etc/resolv.conf` names a loopback "DNS server" that receives queries and answers none.
#![cfg(feature = "etcd")]

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::cluster::Etcd;

#[test]
fn a_dns_server_that_never_answers_costs_no_more_than_the_deadline() {
    // Port 53 on an address of our own in 127/8 (root, as the suite runs).
    let dns = UdpSocket::bind("127.83.0.53:53").expect("bind 127.83.0.53:53 (needs root)");
    dns.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    // Left to itself, glibc would wait 30 s per try, three tries.
    std::fs::write(
        &resolv,
        "nameserver 127.83.0.53\noptions timeout:30 attempts:3\n",
    )
    .unwrap();
    let script = format!(
        "mount --bind {} /etc/resolv.conf && exec {} lock --etcd http://etcd.black-hole.test:2379 \
         -w 2 dns-name true",
        resolv.display(),
        support::exe().display()
    );
    let started = Instant::now();
    let out = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .unwrap();
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(68), "{err}");
    assert!(
        err.contains("resolving etcd.black-hole.test took longer than the time left"),
        "{err}"
    );
    assert!(took < Duration::from_secs(4), "took {took:?} with -w 2");
    // The name really was asked for.
    let mut query = [0u8; 512];
    let (n, _) = dns.recv_from(&mut query).expect("no DNS query arrived");
    assert!(n > 12, "not a DNS query");

    // A name that resolves (through /etc/hosts) still works.
    let etcd = Etcd::start();
    let out = support::pidward()
        .args([
            "lock",
            "--etcd",
            &format!("localhost:{}", etcd.port),
            "-n",
            "dns-name",
            "true",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}
