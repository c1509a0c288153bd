//! Shared helpers of the readiness tests: children that are always reaped, their pidfds,
//! and a raw datagram sender (python3) for bytes the client refuses to send.

#![allow(dead_code)]

/// The helpers every area shares, for `use support::<area>::*`.
#[allow(unused_imports)]
pub use super::{alive, exe, kill, pidward, wait_until};

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pidward::notify::{Listener, Notification};

/// The pidward binary built for these tests.
/// The binary under test, as a string for `$PIDWARD`.
pub const PIDWARD: &str = env!("CARGO_BIN_EXE_pidward");

/// A child process that is killed and reaped when dropped, so no test leaves one behind.
/// Children started by [`sh`] lead their own process group, which is killed whole.
pub struct Reaped(pub Child, bool);

impl Reaped {
    /// Takes care of a child that is not a process group leader.
    pub fn new(child: Child) -> Reaped {
        Reaped(child, false)
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// A pidfd of the child (pidfd_open(2)), readable once it exits.
    pub fn pidfd(&self) -> OwnedFd {
        rustix::process::pidfd_open(
            rustix::process::Pid::from_child(&self.0),
            rustix::process::PidfdFlags::empty(),
        )
        .expect("pidfd_open")
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if self.1 {
            // The group outlives its reaped leader while members remain, so its id cannot
            // have been reused.
            let pid = rustix::process::Pid::from_child(&self.0);
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sh -c script`, with `$PIDWARD` naming the binary and `NOTIFY_SOCKET` the listener (if
/// any), and no inherited `NOTIFY_FD`.
pub fn sh(script: &str, listener: Option<&Listener>) -> Reaped {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(script)
        .env("PIDWARD", PIDWARD)
        .env_remove("NOTIFY_FD")
        .stdin(Stdio::null())
        .process_group(0);
    match listener {
        Some(listener) => command.env("NOTIFY_SOCKET", listener.address()),
        None => command.env_remove("NOTIFY_SOCKET"),
    };
    Reaped(command.spawn().expect("spawn sh"), true)
}

/// A python3 process that sends one datagram made of `bytes` (with `fds` open descriptors of
/// /dev/null attached, if not 0) to `$NOTIFY_SOCKET`, prints `sent`, then waits for its stdin
/// to close, so that it is still alive when the listener checks who sent the datagram.
pub fn python_send(listener: &Listener, bytes: &[u8], fds: usize) -> Reaped {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let program = r#"
import os, socket, sys
a = os.environ["NOTIFY_SOCKET"]
a = "\0" + a[1:] if a.startswith("@") else a
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(int(sys.argv[2]))]
s.connect(a)
if fds:
    socket.send_fds(s, [bytes.fromhex(sys.argv[1])], fds)
else:
    s.send(bytes.fromhex(sys.argv[1]))
print("sent", flush=True)
sys.stdin.read()
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(program)
        .arg(hex)
        .arg(fds.to_string())
        .env("NOTIFY_SOCKET", listener.address())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "sent", "python3 could not send its datagram");
    Reaped::new(child)
}

/// Calls `recv` until it returns a message or `within` passes.
pub fn recv_within(listener: &Listener, within: Duration) -> Option<Notification> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(n) = listener.recv().expect("recv") {
            return Some(n);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Number of open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}
