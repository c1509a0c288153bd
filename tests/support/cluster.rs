//! A real etcd for one test: started on loopback on free ports in a temp dir, killed on drop;
//! `etcdctl`; and a TCP proxy the test can freeze to partition a client from etcd.
//!
//! etcd is looked up as `$PIDWARD_TEST_ETCD`, then `etcd` on `PATH`, then `/usr/bin/etcd`
//! (Debian's `etcd-server`); `etcdctl` likewise (`etcd-client`). A missing etcd fails the test
//! with a message saying what to install: these tests are never skipped.

#![allow(dead_code)]

/// The helpers every area shares, for `use support::<area>::*`.
#[allow(unused_imports)]
pub use super::{alive, exe, kill, pidward, wait_until};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub mod tls;

use tls::Certs;

/// Find a program: `$VAR`, then `PATH`, then `/usr/bin`.
fn find(var: &str, name: &str, package: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
        let p = dir.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "{name} not found (looked at ${var}, PATH and /usr/bin): these tests need a real etcd; \
         install Debian's {package} (apt-get install etcd-server etcd-client) or set ${var}"
    );
}

/// A free loopback port (bound, then released for etcd to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One etcd server of our own.
pub struct Etcd {
    child: Child,
    pub dir: TempDir,
    pub port: u16,
    /// The member's name, unique to this test process and port.
    name: String,
    /// With TLS: the CA, and the client certificate and key etcdctl uses.
    tls: Option<[PathBuf; 3]>,
}

/// Spawn one member `name` of the cluster `initial` (`NAME=PEER_URL,...`); with `certs`, its
/// client port speaks TLS and wants a client certificate from our CA.
fn spawn_member(name: &str, port: u16, peer: u16, initial: &str, certs: Option<&Certs>) -> Etcd {
    let bin = find("PIDWARD_TEST_ETCD", "etcd", "etcd-server");
    let dir = tempfile::tempdir().unwrap();
    let scheme = if certs.is_some() { "https" } else { "http" };
    let client = format!("{scheme}://127.0.0.1:{port}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
    let mut cmd = Command::new(&bin);
    if let Some(c) = certs {
        cmd.arg("--cert-file")
            .arg(c.path("server.pem"))
            .arg("--key-file")
            .arg(c.path("server.key"))
            .arg("--trusted-ca-file")
            .arg(c.ca())
            .arg("--client-cert-auth");
    }
    let child = cmd
        .args(["--name", name, "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen-client-urls", &client])
        .args(["--advertise-client-urls", &client])
        .args(["--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", initial])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let tls = certs.map(|c| {
        let client = c.client("client");
        [c.ca(), client.cert, client.key]
    });
    Etcd {
        child,
        dir,
        port,
        name: name.to_owned(),
        tls,
    }
}

impl Etcd {
    /// Start etcd and wait until it answers (at most 10 s a try).
    pub fn start() -> Etcd {
        Etcd::start_with(None)
    }

    /// Start etcd with TLS and client-certificate authentication (`Certs`' server
    /// certificate, our CA), and wait until it answers.
    pub fn start_tls(certs: &Certs) -> Etcd {
        Etcd::start_with(Some(certs))
    }

    fn start_with(certs: Option<&Certs>) -> Etcd {
        for _ in 0..3 {
            let (port, peer) = (free_port(), free_port());
            let name = format!("t-{}-{port}", std::process::id());
            let initial = format!("{name}=http://127.0.0.1:{peer}");
            let mut etcd = spawn_member(&name, port, peer, &initial, certs);
            if etcd.wait_ready(Duration::from_secs(10)) {
                return etcd;
            }
            // Lost a port race, most likely: try other ports.
        }
        panic!("etcd did not start (three tries)");
    }

    /// Start a three-member cluster on loopback and wait until every member answers.
    pub fn start_cluster() -> Vec<Etcd> {
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}-{}=http://127.0.0.1:{peer}", std::process::id()))
            .collect();
        let initial = initial.join(",");
        let mut members: Vec<Etcd> = ports
            .iter()
            .enumerate()
            .map(|(i, &(port, peer))| {
                spawn_member(
                    &format!("m{i}-{}", std::process::id()),
                    port,
                    peer,
                    &initial,
                    None,
                )
            })
            .collect();
        for m in &mut members {
            let up = m.wait_ready(Duration::from_secs(30));
            assert!(up, "member did not start:\n{}", m.log());
        }
        members
    }

    /// Whether this member is the leader (`etcdctl endpoint status`).
    pub fn is_leader(&self) -> bool {
        let out = self
            .etcdctl()
            .args(["endpoint", "status", "-w", "json"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| {
            let at = text.find(&format!("\"{name}\":"))? + name.len() + 3;
            let digits: String = text[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            Some(digits)
        };
        field("member_id").is_some() && field("member_id") == field("leader")
    }

    fn wait_ready(&mut self, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            // The port was free when we picked it, but another test may have picked it too:
            // make sure the etcd answering is ours, by its member name.
            // (A member's name shows once it has joined; a foreign etcd never shows it.)
            let ours = format!("\"name\":\"{}\"", self.name);
            let members = if self.tls.is_some() {
                let out = self
                    .etcdctl()
                    .args(["--dial-timeout=1s", "--command-timeout=1s"])
                    .args(["member", "list", "-w", "json"])
                    .output();
                out.ok()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            } else {
                post(self.port, "/v3/cluster/member/list", "{}")
            };
            if members.is_some_and(|s| s.contains(&ours)) {
                return true;
            }
            thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }

    /// `etcdctl --endpoints THIS ARGS...`, not yet run.
    pub fn etcdctl(&self) -> Command {
        let mut c = Command::new(find("PIDWARD_TEST_ETCDCTL", "etcdctl", "etcd-client"));
        c.env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.endpoint()]);
        if let Some([ca, cert, key]) = &self.tls {
            c.arg("--cacert")
                .arg(ca)
                .arg("--cert")
                .arg(cert)
                .arg("--key")
                .arg(key);
        }
        c
    }

    /// The keys under `prefix`, in create order.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self
            .etcdctl()
            .args(["get", "--prefix", "--keys-only", "--sort-by=CREATE", prefix])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// `SIGSTOP` / `SIGCONT` the server.
    pub fn freeze(&self, on: bool) {
        let sig = if on { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill(2) on our own unreaped child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Kill the server now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.freeze(false);
        self.kill();
        if thread::panicking() {
            eprintln!("--- etcd log ---\n{}", self.log());
        }
    }
}

/// One JSON POST to the gateway on loopback; the body if it answered 200.
pub fn post(port: u16, path: &str, body: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.starts_with("HTTP/1.1 200").then_some(out)
}

/// A loopback TCP proxy to a port, which [`Proxy::freeze`] turns into a black hole: bytes
/// are neither forwarded nor refused, as in a network partition.
pub struct Proxy {
    pub port: u16,
    frozen: Arc<AtomicBool>,
}

impl Proxy {
    pub fn to(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(AtomicBool::new(false));
        let f = frozen.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(down) = conn else { return };
                let f = f.clone();
                thread::spawn(move || {
                    while f.load(Ordering::SeqCst) {
                        thread::sleep(Duration::from_millis(20));
                    }
                    let Ok(up) = TcpStream::connect(("127.0.0.1", target)) else {
                        return;
                    };
                    pump(
                        down.try_clone().unwrap(),
                        up.try_clone().unwrap(),
                        f.clone(),
                    );
                    pump(up, down, f);
                });
            }
        });
        Proxy { port, frozen }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn freeze(&self, on: bool) {
        self.frozen.store(on, Ordering::SeqCst);
    }
}

/// Copy `from` to `to` on a thread, holding the bytes while `frozen`.
fn pump(mut from: TcpStream, mut to: TcpStream, frozen: Arc<AtomicBool>) {
    thread::spawn(move || {
        let mut buf = [0u8; 16384];
        from.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        loop {
            if frozen.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(20));
                continue;
            }
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock) => continue,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::TimedOut) => continue,
                Err(_) => break,
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}
