//! Notify-fd lines ([`pidward::notify::ReadyWatch`] over [`ReadySource::pipe`], `--ready
//! fd:N`): written in pieces (the input split at `0xff` bytes), the child is ready exactly
//! once a newline has arrived, never before, whatever else it wrote.

use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;
use std::time::Duration;

use pidward::notify::{ReadyOutcome, ReadySource, ReadyWatch};

/// A pidfd of this (live) process, standing for a child that has not exited.
fn me() -> &'static OwnedFd {
    static PIDFD: OnceLock<OwnedFd> = OnceLock::new();
    PIDFD.get_or_init(|| {
        // SAFETY: pidfd_open(2) takes a PID and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, std::process::id(), 0) };
        assert!(fd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
        // SAFETY: the descriptor was just created and is owned by nothing else.
        unsafe { OwnedFd::from_raw_fd(fd as i32) }
    })
}

pub fn check(data: &[u8]) {
    let (source, write) = ReadySource::pipe().expect("pipe");
    let mut watch = ReadyWatch::new(source, Duration::from_secs(3600)).expect("watch");
    let mut newline = false;
    for piece in data.split(|&b| b == 0xff).take(32) {
        let mut rest = piece;
        while !rest.is_empty() {
            let n = nix::unistd::write(write.as_fd(), rest).expect("write to the pipe");
            rest = &rest[n..];
        }
        newline |= piece.contains(&b'\n');
        let outcome = watch
            .poll(me().as_fd(), |n| {
                panic!("a notify fd yielded a message: {n:?}")
            })
            .expect("poll");
        if newline {
            let ready = ReadyOutcome::Ready {
                main_pid: None,
                status: None,
            };
            assert_eq!(outcome, Some(ready));
            return;
        }
        assert_eq!(outcome, None, "no newline yet");
    }
}
