//! sd_notify datagrams, sent over a real socket to a [`pidward::notify::Listener`] and read
//! with [`Listener::recv`], with or without explicit credentials and with 0 to 200 attached
//! descriptors.
//!
//! Input: the first byte chooses how to send (bit 0: explicit `SCM_CREDENTIALS`; bit 1: in
//! them, PID 1 instead of ours; bits 2-4: how many descriptors; bit 5: pad the datagram past
//! [`MAX_MESSAGE`] so that the kernel cuts it), the rest is the datagram. The listener's
//! answer must be what systemd's rules say (checked against a model written apart): a
//! datagram with NUL is ignored, lines are `KEY=VALUE` one by one, the first occurrence
//! decides, a cut datagram loses its last line; a sender outside the tree (PID 1) is refused
//! and counted; a lone `BARRIER=1` is answered, not returned; every descriptor received is
//! closed by the time `recv` returns, and none is leaked.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr, UnixCredentials,
    sendmsg, socket,
};
use pidward::notify::{Listener, MAX_MESSAGE, Notification};

struct Channel {
    listener: Listener,
    sender: OwnedFd,
    address: UnixAddr,
}

fn channel() -> &'static Channel {
    static CHANNEL: OnceLock<Channel> = OnceLock::new();
    CHANNEL.get_or_init(|| {
        let listener = Listener::bind_private().expect("bind a notify socket");
        let name = listener.address().as_encoded_bytes()[1..].to_vec();
        let address = UnixAddr::new_abstract(&name).expect("abstract address");
        let sender = socket(
            AddressFamily::Unix,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("socket");
        Channel {
            listener,
            sender,
            address,
        }
    })
}

/// The lowest free descriptor number: it moves if a descriptor leaked.
fn lowest_free() -> RawFd {
    nix::unistd::dup(std::io::stdin()).map_or(-1, |fd| fd.as_raw_fd())
}

pub fn check(data: &[u8]) {
    let Some((&how, body)) = data.split_first() else {
        return;
    };
    let ch = channel();
    let free_before = lowest_free();
    let mut datagram = Vec::new();
    if how & 0x20 != 0 {
        datagram.extend_from_slice(b"X_PAD=");
        datagram.resize(MAX_MESSAGE - 64, b'p');
        datagram.push(b'\n');
    }
    datagram.extend_from_slice(body);
    let fd_count = [0, 1, 2, 3, 200, 0, 1, 0][usize::from(how >> 2 & 7)];
    let (pipe_read, pipe_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
            .expect("pipe");
    let fds = vec![pipe_write.as_raw_fd(); fd_count];
    let me = UnixCredentials::new();
    let forged_pid = how & 2 != 0;
    let creds = UnixCredentials::from(libc::ucred {
        pid: if forged_pid { 1 } else { me.pid() },
        uid: me.uid(),
        gid: me.gid(),
    });
    let mut cmsgs = Vec::new();
    if how & 1 != 0 {
        cmsgs.push(ControlMessage::ScmCredentials(&creds));
    }
    if !fds.is_empty() {
        cmsgs.push(ControlMessage::ScmRights(&fds));
    }
    let ignored_before = ch.listener.ignored();
    let sent = sendmsg(
        ch.sender.as_raw_fd(),
        &[IoSlice::new(&datagram)],
        &cmsgs,
        MsgFlags::MSG_DONTWAIT,
        Some(&ch.address),
    );
    drop(pipe_write);
    if sent.is_err() {
        // Not ours to send (credentials we may not claim): nothing reached the listener.
        assert_eq!(ch.listener.recv().expect("recv"), None);
        return;
    }
    let got = ch.listener.recv().expect("recv");
    assert_eq!(
        ch.listener.recv().expect("recv"),
        None,
        "one datagram, one answer"
    );
    let refused_sender = how & 1 != 0 && forged_pid;
    let want = if refused_sender {
        None
    } else {
        model(&datagram)
    };
    match (&got, &want) {
        (None, None) => {}
        (Some(n), Some(w)) => {
            assert_eq!(n.fields, w.fields);
            assert_eq!(n.truncated, w.truncated);
            assert_eq!(
                (n.ready, n.stopping, n.reloading),
                (w.ready, w.stopping, w.reloading)
            );
            assert_eq!(n.status, w.status);
            assert_eq!(n.errno, w.errno);
            assert_eq!(n.extend_timeout, w.extend_timeout);
            assert_eq!(n.main_pid, w.main_pid);
            assert_eq!((n.sender, n.uid), (std::process::id(), me.uid()));
        }
        _ => panic!("listener said {got:?}, the rules say {want:?}"),
    }
    if refused_sender {
        assert_eq!(
            ch.listener.ignored(),
            ignored_before + 1,
            "a refusal is counted"
        );
    }
    // Every copy of the pipe's write end that travelled is closed: end of file.
    let mut byte = [0u8; 1];
    assert_eq!(
        nix::unistd::read(pipe_read.as_fd(), &mut byte).ok(),
        Some(0),
        "a received descriptor is still open"
    );
    drop(pipe_read);
    assert_eq!(lowest_free(), free_before, "a descriptor leaked");
}

/// What the datagram means under systemd's rules, computed apart from the library.
fn model(datagram: &[u8]) -> Option<Notification> {
    let truncated = datagram.len() > MAX_MESSAGE;
    let received = &datagram[..datagram.len().min(MAX_MESSAGE)];
    if received.contains(&0) {
        return None;
    }
    let complete = if truncated {
        received
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(&[][..], |end| &received[..end])
    } else {
        received
    };
    let mut fields = Vec::new();
    for line in complete.split(|&b| b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            fields.push((key.to_owned(), value.to_owned()));
        }
    }
    if fields.len() == 1 && fields[0] == ("BARRIER".to_owned(), "1".to_owned()) {
        return None;
    }
    let first = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let decimal =
        |k: &str| first(k).filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
    let mut n = Notification::default();
    n.ready = first("READY").as_deref() == Some("1");
    n.stopping = first("STOPPING").as_deref() == Some("1");
    n.reloading = first("RELOADING").as_deref() == Some("1");
    n.status = first("STATUS");
    n.errno = decimal("ERRNO").and_then(|v| v.parse().ok());
    n.extend_timeout = decimal("EXTEND_TIMEOUT_USEC")
        .and_then(|v| v.parse().ok())
        .map(std::time::Duration::from_micros);
    // Only this process is in the tree of a listener with no children.
    n.main_pid = decimal("MAINPID")
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|&pid| pid == std::process::id());
    n.truncated = truncated;
    n.fields = fields;
    Some(n)
}
