//! `pidward lock --etcd` over TLS, against a real etcd started with `--cert-file --key-file
//! --trusted-ca-file --client-cert-auth`: the lock with the right client certificate (options,
//! environment, library), exclusion with `etcdctl lock` using the same certificates, and every
//! way TLS can fail: no client certificate, a stranger's CA on either side, an expired client
//! certificate, a server certificate for another host, unusable files.
#![cfg(feature = "etcd")]

mod support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use pidward::cluster::{CertFile, CertProblem, Endpoint, Error, Lock, Options, Tls, Wait};
use support::cluster::Etcd;
use support::cluster::tls::Certs;
use support::wait_until;

/// `pidward lock --etcd ENDPOINT ARGS...`, with no TLS variables from outside.
fn lock(endpoint: &str, args: &[&str]) -> Command {
    let mut c = support::pidward();
    c.args(["lock", "--etcd", endpoint]).args(args);
    for var in [
        "PIDWARD_ETCD_CACERT",
        "PIDWARD_ETCD_CERT",
        "PIDWARD_ETCD_KEY",
    ] {
        c.env_remove(var);
    }
    c
}

/// `--cacert CA --cert C --key K`, as strings.
fn tls_args(ca: &Path, cert: &Path, key: &Path) -> Vec<String> {
    [("--cacert", ca), ("--cert", cert), ("--key", key)]
        .iter()
        .flat_map(|(o, p)| [o.to_string(), p.display().to_string()])
        .collect()
}

fn run(endpoint: &str, args: &[String], rest: &[&str]) -> Output {
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .chain(rest.iter().copied())
        .collect();
    lock(endpoint, &args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() > end {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn with_the_right_client_certificate_the_lock_works_and_excludes_etcdctl_both_ways() {
    let certs = Certs::new();
    let etcd = Etcd::start_tls(&certs);
    let e = etcd.endpoint();
    let c = certs.client("client");
    let good = tls_args(&certs.ca(), &c.cert, &c.key);

    let out = run(
        &e,
        &good,
        &["-n", "tls", "sh", "-c", "echo rev=$PIDWARD_LOCK_REV"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("rev="));
    assert!(etcd.keys("tls").is_empty(), "the lease was not revoked");

    // The same files from the environment, an endpoint without a scheme (TLS, since files are
    // given), and a host name (looked up within the deadline).
    let out = lock(&format!("localhost:{}", etcd.port), &["-n", "tls", "true"])
        .env("PIDWARD_ETCD_CACERT", certs.ca())
        .env("PIDWARD_ETCD_CERT", &c.cert)
        .env("PIDWARD_ETCD_KEY", &c.key)
        .output()
        .unwrap();
    // The server certificate is for 127.0.0.1 only: "localhost" is refused by name.
    assert_eq!(out.status.code(), Some(68), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not valid for name"),
        "{}",
        stderr(&out)
    );
    let out = lock(&format!("127.0.0.1:{}", etcd.port), &["-n", "tls", "true"])
        .env("PIDWARD_ETCD_CACERT", certs.ca())
        .env("PIDWARD_ETCD_CERT", &c.cert)
        .env("PIDWARD_ETCD_KEY", &c.key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // pidward holds: etcdctl (same certificates) waits.
    let dir = tempfile::tempdir().unwrap();
    let (ready, flag) = (dir.path().join("ready"), dir.path().join("flag"));
    let script = format!("touch {}; exec sleep 30", ready.display());
    let mut holder = lock(&e, &[])
        .args(&good)
        .args(["both", "sh", "-c", &script])
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || ready.exists()),
        "holder did not start"
    );
    let mut ctl = etcd
        .etcdctl()
        .args(["lock", "both", "touch"])
        .arg(&flag)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        !flag.exists(),
        "etcdctl lock ran while pidward held the lock"
    );
    // SAFETY: kill(2) on our own unreaped child.
    unsafe { libc::kill(holder.id() as i32, libc::SIGTERM) };
    holder.wait().unwrap();
    assert!(
        wait_exit(&mut ctl, Duration::from_secs(5))
            .unwrap()
            .success()
    );
    assert!(flag.exists());

    // etcdctl holds: pidward is refused, and names the holder.
    let ready = dir.path().join("ctl-ready");
    let mut ctl = etcd
        .etcdctl()
        .args(["lock", "both", "--", "sh", "-c"])
        .arg(format!("touch {}; sleep 30", ready.display()))
        .process_group(0)
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || ready.exists()));
    let out = run(&e, &good, &["-n", "--verbose", "both", "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("both is locked by key both/"),
        "{}",
        stderr(&out)
    );
    // SAFETY: kill(2) on the process group we created.
    unsafe { libc::kill(-(ctl.id() as i32), libc::SIGKILL) };
    ctl.wait().unwrap();
}

#[test]
fn tls_failures_exit_68_at_once_and_say_what_to_fix() {
    let certs = Certs::new();
    let etcd = Etcd::start_tls(&certs);
    let e = etcd.endpoint();
    let good = certs.client("client");
    let ca = certs.ca();
    let stranger = certs.path("stranger.pem");
    let foreign = certs.client("foreign");
    let expired = certs.client("expired");
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "no client certificate",
            vec!["--cacert".into(), ca.display().to_string()],
            "it wants a client certificate",
        ),
        (
            "server checked against a stranger's CA",
            tls_args(&stranger, &good.cert, &good.key),
            "not signed by a CA we trust",
        ),
        (
            "server checked against the system's CAs",
            vec![],
            "not signed by a CA we trust",
        ),
        (
            "client certificate from a stranger's CA",
            tls_args(&ca, &foreign.cert, &foreign.key),
            "does not accept our client certificate",
        ),
        (
            "expired client certificate",
            tls_args(&ca, &expired.cert, &expired.key),
            "does not accept our client certificate",
        ),
    ];
    for (what, args, says) in cases {
        let started = Instant::now();
        let out = run(&e, &args, &["-w", "20", "tls", "true"]);
        let took = started.elapsed();
        assert_eq!(out.status.code(), Some(68), "{what}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("TLS with etcd at {e} failed")),
            "{what}: {err}"
        );
        assert!(err.contains(says), "{what}: {err}");
        // Not retried until the deadline: a certificate does not get better.
        assert!(took < Duration::from_secs(5), "{what}: took {took:?}");
    }
    assert!(etcd.keys("tls").is_empty());
}

#[test]
fn unusable_tls_files_are_usage_errors_that_name_the_file() {
    let certs = Certs::new();
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let ca = certs.ca();
    let c = certs.client("client");
    let other_key = certs.path("foreign.key");
    let s = |p: &Path| p.display().to_string();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--cacert".into(), s(&missing)],
            format!(
                "--cacert {}: cannot read it: No such file or directory",
                s(&missing)
            ),
        ),
        (
            vec!["--cacert".into(), s(&text)],
            format!("--cacert {}: it holds no PEM certificate or key", s(&text)),
        ),
        (
            tls_args(&ca, &text, &c.key),
            format!("--cert {}: it holds no PEM certificate or key", s(&text)),
        ),
        (
            tls_args(&ca, &c.cert, &c.cert),
            format!("--key {}: it holds no PEM certificate or key", s(&c.cert)),
        ),
        (
            tls_args(&ca, &c.cert, &other_key),
            format!(
                "--key {}: the key does not belong to the certificate",
                s(&other_key)
            ),
        ),
        (
            vec!["--cert".into(), s(&c.cert)],
            "--cert needs --key".into(),
        ),
        (vec!["--key".into(), s(&c.key)], "--key needs --cert".into()),
    ];
    // No etcd at all: the files are checked before anything is sent.
    for (args, says) in cases {
        let out = run("https://127.0.0.1:9", &args, &["tls", "true"]);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(&says), "{args:?}: {}", stderr(&out));
    }
    // The variables are named when they are what is wrong.
    let out = lock("https://127.0.0.1:9", &["tls", "true"])
        .env("PIDWARD_ETCD_CACERT", &missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr(&out).contains(&format!("$PIDWARD_ETCD_CACERT {}", s(&missing))),
        "{}",
        stderr(&out)
    );
    // TLS options need --etcd.
    let out = support::pidward()
        .args(["lock", "--cacert", &s(&ca), "/tmp/x", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
}

#[test]
fn the_library_takes_the_lock_over_tls_and_reports_bad_files() {
    let certs = Certs::new();
    let etcd = Etcd::start_tls(&certs);
    let c = certs.client("client");
    let tls = Tls::new()
        .ca_file(certs.ca())
        .unwrap()
        .client_cert(&c.cert, &c.key)
        .unwrap();
    let opts = Options::new(Endpoint::parse_list(&etcd.endpoint()).unwrap())
        .tls(tls)
        .wait(Wait::No);
    let lock = Lock::acquire("lib-tls", &opts).unwrap();
    assert!(lock.revision() > 0);
    assert!(matches!(
        Lock::acquire("lib-tls", &opts),
        Err(Error::Locked { .. })
    ));
    lock.release(Duration::from_secs(2)).unwrap();

    let no_cert = Options::new(Endpoint::parse_list(&etcd.endpoint()).unwrap())
        .tls(Tls::new().ca_file(certs.ca()).unwrap())
        .wait(Wait::No);
    let err = Lock::acquire("lib-tls", &no_cert).unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    assert!(err.is_cluster_failure());

    match Tls::new().client_cert(&c.cert, certs.path("foreign.key")) {
        Err(Error::Certificate {
            file: CertFile::Key,
            problem: CertProblem::KeyMismatch,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    match Tls::new().ca_file("/no/such/ca.pem") {
        Err(Error::Certificate {
            file: CertFile::Ca,
            problem: CertProblem::Unreadable(_),
            path,
        }) => assert_eq!(path, Path::new("/no/such/ca.pem")),
        other => panic!("{other:?}"),
    }
}
