//! The sd_notify listener: addresses, strict parsing of real datagrams, sender policies,
//! and the barrier handshake.

mod support;

use std::time::{Duration, Instant};

use pidward::notify::{Accept, Listener, MAX_MESSAGE, Notifier};
use support::notify::{python_send, recv_within, sh};

const WITHIN: Duration = Duration::from_secs(5);

#[test]
fn bind_private_gives_a_kernel_named_abstract_socket() {
    let a = Listener::bind_private().unwrap();
    let b = Listener::bind_private().unwrap();
    let name = a.address().to_str().unwrap();
    assert!(name.starts_with('@') && name.len() > 1, "{name}");
    assert_ne!(a.address(), b.address());
    let _child = sh(r#"exec "$PIDWARD" notify --ready"#, Some(&a));
    assert!(recv_within(&a, WITHIN).unwrap().ready);
    assert_eq!(b.recv().unwrap(), None);
}

#[test]
fn a_named_abstract_socket_works_and_is_exclusive() {
    let name = format!("@pidward-test/{}/named", std::process::id());
    let listener = Listener::bind(&name).unwrap();
    assert_eq!(listener.address(), name.as_str());
    let err = Listener::bind(&name).unwrap_err();
    assert!(err.to_string().contains(&name), "{err}");
    assert!(err.to_string().contains("Address already in use"), "{err}");

    let _child = sh(
        r#"exec "$PIDWARD" notify --status="over an abstract socket""#,
        Some(&listener),
    );
    let n = recv_within(&listener, WITHIN).unwrap();
    assert_eq!(n.status.as_deref(), Some("over an abstract socket"));
}

#[test]
fn a_path_socket_is_removed_only_while_it_is_ours() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let listener = Listener::bind(&path).unwrap();
    let _child = sh(r#"exec "$PIDWARD" notify --ready"#, Some(&listener));
    assert!(recv_within(&listener, WITHIN).unwrap().ready);
    drop(listener);
    assert!(!path.exists(), "our socket is removed on drop");

    // Replaced by someone else meanwhile: left alone.
    let listener = Listener::bind(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, "not ours").unwrap();
    drop(listener);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not ours");
}

#[test]
fn binding_over_an_existing_file_fails_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("taken");
    std::fs::write(&path, "data").unwrap();
    let err = Listener::bind(&path).unwrap_err();
    assert!(err.to_string().contains(path.to_str().unwrap()), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");

    let err = Listener::bind("relative.sock").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("relative.sock"), "{err}");
}

#[test]
fn malformed_lines_are_skipped_and_the_rest_is_kept() {
    let listener = Listener::bind_private().unwrap();
    let _sender = python_send(
        &listener,
        b"garbage line\nREADY=1\nST\xffATUS=x\n=no key\nSTATUS=fine\nREADY=1 \n",
        0,
    );
    let n = recv_within(&listener, WITHIN).unwrap();
    assert!(n.ready && !n.truncated);
    assert_eq!(n.status.as_deref(), Some("fine"));
    let keys: Vec<&str> = n.fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["READY", "STATUS", "READY"]);
    assert_eq!(listener.ignored(), 0);
}

#[test]
fn a_datagram_with_a_nul_byte_is_ignored_whole() {
    let listener = Listener::bind_private().unwrap();
    let _sender = python_send(&listener, b"READY=1\nSTATUS=a\0b", 0);
    // The datagram is queued once python3 printed "sent".
    assert_eq!(listener.recv().unwrap(), None);
    assert_eq!(listener.ignored(), 1);
}

#[test]
fn an_oversized_datagram_is_cut_at_its_last_complete_line() {
    let listener = Listener::bind_private().unwrap();
    let mut big = b"READY=1\nSTATUS=".to_vec();
    big.resize(MAX_MESSAGE + 1000, b'x');
    let _sender = python_send(&listener, &big, 0);
    let n = recv_within(&listener, WITHIN).unwrap();
    assert!(n.truncated && n.ready);
    assert_eq!(n.status, None, "the cut STATUS= line is dropped");

    // Exactly the limit is read whole.
    let mut exact = b"STATUS=".to_vec();
    exact.resize(MAX_MESSAGE, b'y');
    let _sender = python_send(&listener, &exact, 0);
    let n = recv_within(&listener, WITHIN).unwrap();
    assert!(!n.truncated);
    assert_eq!(n.status.unwrap().len(), MAX_MESSAGE - "STATUS=".len());
}

#[test]
fn accept_main_hears_only_that_process() {
    let mut listener = Listener::bind_private().unwrap();
    let notifier = Notifier::new(listener.address()).unwrap();
    listener.set_accept(Accept::Main(std::os::unix::process::parent_id()));
    notifier.send("STATUS=from the test process").unwrap();
    assert_eq!(listener.recv().unwrap(), None);
    assert_eq!(listener.ignored(), 1);

    listener.set_accept(Accept::Main(std::process::id()));
    notifier.send("STATUS=again").unwrap();
    let n = listener.recv().unwrap().unwrap();
    assert_eq!(n.status.as_deref(), Some("again"));
    assert_eq!(n.sender, std::process::id());
    assert_eq!(n.uid, rustix::process::getuid().as_raw());
}

#[test]
fn main_pid_outside_the_accepted_tree_is_dropped() {
    let mut listener = Listener::bind_private().unwrap();
    let notifier = Notifier::new(listener.address()).unwrap();
    notifier.send("READY=1\nMAINPID=1").unwrap();
    let n = listener.recv().unwrap().unwrap();
    assert!(n.ready);
    assert_eq!(
        n.main_pid, None,
        "PID 1 is not a descendant of this process"
    );
    assert_eq!(n.get("MAINPID"), Some("1"));

    let child = sh("exec sleep 30", None);
    notifier.send(&format!("MAINPID={}", child.id())).unwrap();
    assert_eq!(listener.recv().unwrap().unwrap().main_pid, Some(child.id()));

    listener.set_accept(Accept::Any);
    notifier.send("MAINPID=1").unwrap();
    assert_eq!(listener.recv().unwrap().unwrap().main_pid, Some(1));
}

#[test]
fn refused_datagrams_are_dropped_and_counted() {
    let mut listener = Listener::bind_private().unwrap();
    listener.set_accept(Accept::Main(1));
    let notifier = Notifier::new(listener.address()).unwrap();
    // Fewer than the kernel's default queue length (net.unix.max_dgram_qlen = 10).
    for _ in 0..8 {
        notifier.send("READY=1").unwrap();
    }
    assert_eq!(listener.recv().unwrap(), None);
    assert_eq!(listener.ignored(), 8);
    listener.set_accept(Accept::Descendants);
    notifier.send("STATUS=heard").unwrap();
    assert_eq!(
        listener.recv().unwrap().unwrap().status.as_deref(),
        Some("heard")
    );
    assert_eq!(listener.ignored(), 8);
}

#[test]
fn the_barrier_returns_once_the_listener_has_read() {
    let listener = Listener::bind_private().unwrap();
    let notifier = Notifier::new(listener.address()).unwrap();
    notifier.send("STATUS=before the barrier").unwrap();

    // Nobody reads: the barrier times out, naming the address.
    let started = Instant::now();
    let err = notifier.barrier(Duration::from_millis(300)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(
        err.to_string()
            .contains(listener.address().to_str().unwrap()),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A reader answers it: the queued messages come out, the barriers do not.
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut got = Vec::new();
            let deadline = Instant::now() + WITHIN;
            while Instant::now() < deadline && got.is_empty() {
                if let Some(n) = listener.recv().unwrap() {
                    got.push(n);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            // Drain the rest (the barriers) for a moment.
            for _ in 0..20 {
                if let Some(n) = listener.recv().unwrap() {
                    got.push(n);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            got
        });
        let started = Instant::now();
        notifier.barrier(WITHIN).unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        let got = reader.join().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].status.as_deref(), Some("before the barrier"));
    });
}

#[test]
fn sending_to_nobody_fails_naming_the_address() {
    let address = format!("@pidward-test/{}/nobody", std::process::id());
    let err = Notifier::new(&address)
        .unwrap()
        .send("READY=1")
        .unwrap_err();
    assert!(err.to_string().contains(&address), "{err}");
    assert!(err.to_string().contains("Connection refused"), "{err}");
    assert!(Notifier::new("@x").unwrap().send("").is_err());
}

#[test]
fn a_child_that_dropped_privileges_still_reaches_the_private_socket() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root (to drop to nobody)"
    );
    let listener = Listener::bind_private().unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let _child = sh(
        &format!(
            r#"exec setpriv --reuid={} --regid={} --clear-groups "$PIDWARD" notify --ready"#,
            nobody.uid, nobody.gid
        ),
        Some(&listener),
    );
    let n = recv_within(&listener, WITHIN).expect("heard from the unprivileged child");
    assert!(n.ready);
    assert_eq!(n.uid, nobody.uid.as_raw());
}
