//! The background reaper: where dropped handles leave children that are still running.
//!
//! A [`Child`](super::Child) dropped before its child was reaped must not leave a zombie. It
//! cannot wait in `Drop`, and a tokio task is not enough (the runtime may be shutting down,
//! and tasks are dropped with it). So the pidfd goes to one process-wide thread, started on
//! first use, that sleeps in `epoll_wait(2)` on every adopted pidfd and reaps each with
//! `waitid(P_PIDFD)` when it becomes readable (the child terminated), then closes it.
//!
//! Adding a pidfd is one `epoll_ctl(2)` from the dropping thread; the kernel makes it visible
//! to the sleeping `epoll_wait` at once, so no wake-up pipe is needed.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, OnceLock};

use crate::pidfd::PidFd;

struct Reaper {
    epoll: OwnedFd,
    children: Mutex<HashMap<RawFd, PidFd>>,
}

static REAPER: OnceLock<Option<Reaper>> = OnceLock::new();

/// `epoll_create1(EPOLL_CLOEXEC)`, then the thread that waits on it.
fn start() -> Option<Reaper> {
    // SAFETY: epoll_create1 returns a new fd or -1.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        tracing::warn!(error = %io::Error::last_os_error(), "cannot start the child reaper");
        return None;
    }
    // SAFETY: a fresh fd nothing else owns.
    let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
    let spawned = std::thread::Builder::new()
        .name("pidward-reaper".to_owned())
        .stack_size(256 * 1024)
        .spawn(run);
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the child reaper thread");
        return None;
    }
    Some(Reaper {
        epoll,
        children: Mutex::new(HashMap::new()),
    })
}

/// The reaper thread: wait for terminated children, reap them, close their pidfds.
fn run() {
    // The OnceLock is being initialised by the thread that spawned us; wait for it.
    let reaper = loop {
        match REAPER.get() {
            Some(Some(reaper)) => break reaper,
            Some(None) => return,
            None => std::thread::yield_now(),
        }
    };
    let mut events: [libc::epoll_event; 16] = [libc::epoll_event { events: 0, u64: 0 }; 16];
    loop {
        // SAFETY: epoll_wait writes at most 16 events into our array.
        let n = unsafe { libc::epoll_wait(reaper.epoll.as_raw_fd(), events.as_mut_ptr(), 16, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            tracing::warn!(error = %e, "child reaper stopped");
            return;
        }
        let mut children = reaper.children.lock().unwrap_or_else(|p| p.into_inner());
        for event in &events[..n as usize] {
            let fd = event.u64 as RawFd;
            let reaped = match children.get(&fd) {
                Some(pidfd) => !matches!(pidfd.reap(false), Ok(None)),
                None => false,
            };
            if reaped {
                // Closing the pidfd also removes it from the epoll set.
                children.remove(&fd);
            }
        }
    }
}

/// Takes ownership of the pidfd of a child that is still running and reaps it when it exits.
pub(crate) fn adopt(pidfd: PidFd) {
    let Some(reaper) = REAPER.get_or_init(start) else {
        // No thread: the child becomes a zombie until this process exits. Logged at start.
        return;
    };
    let raw = pidfd.as_raw_fd();
    reaper
        .children
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(raw, pidfd);
    let mut event = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: raw as u64,
    };
    // SAFETY: epoll_ctl with a valid epoll fd, an fd we hold in the map, and an event struct.
    let ret = unsafe {
        libc::epoll_ctl(
            reaper.epoll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            raw,
            &mut event,
        )
    };
    if ret != 0 {
        tracing::warn!(error = %io::Error::last_os_error(), "cannot watch a dropped child");
    }
}
