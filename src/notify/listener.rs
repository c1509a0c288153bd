//! The supervisor's end of sd_notify: a datagram socket that knows who is talking.
//!
//! [`Listener`] owns a `SOCK_DGRAM` Unix socket, created `SOCK_CLOEXEC | SOCK_NONBLOCK` and
//! with `SO_PASSCRED` set *before* its address is known to anyone, so that every datagram
//! carries the sender's kernel-attested PID, uid and gid. Datagrams are read with recvmsg(2)
//! (`MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC`) into a fixed buffer of
//! [`MAX_MESSAGE`](super::MAX_MESSAGE) bytes; file descriptors that a sender attaches
//! (`SCM_RIGHTS`) are closed as soon as the datagram has been checked, which is also how the
//! `BARRIER=1` handshake is answered: only after the sender was placed in the tree, since an
//! answered sender may exit at once.
//!
//! Who may speak is an [`Accept`] policy. The process tree is followed through the parent
//! links in `/proc/PID/stat`; a sender that has already exited cannot be placed in the tree
//! and is ignored, which is why clients that exit right after sending should wait for a
//! barrier first (`pidward notify` does). Ignored datagrams are counted
//! ([`Listener::ignored`]) and logged with `tracing`.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr, sockopt};

use super::datagram::Datagram;
use super::error::{Call, Error};
use super::message::Notification;
use super::parse_address;

/// Which senders a [`Listener`] accepts. Datagrams from anyone else are dropped unread.
///
/// The process tree is read from `/proc`, which must be the `/proc` of the listener's PID
/// namespace (as it is, for instance, under `unshare --pid --fork --mount-proc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// Only this process (systemd's `NotifyAccess=main`).
    Main(u32),
    /// This process and all its descendants: the tree of the command that was started.
    Tree(u32),
    /// The listening process itself and all its descendants. This is the default: for a
    /// supervisor that is a child subreaper and starts one command, it is exactly the
    /// supervised tree, including the command's orphans that the kernel re-parented to the
    /// supervisor (which [`Accept::Tree`] of the command would miss).
    Descendants,
    /// Anyone who can reach the socket (systemd's `NotifyAccess=all` without the cgroup).
    Any,
}

/// A private sd_notify socket for a supervised child, which passes it in `NOTIFY_SOCKET`.
///
/// Poll it ([`AsFd`]) together with the child's pidfd, call [`recv`](Listener::recv) when it
/// is readable; or let [`ReadySource::wait`](super::ReadySource::wait) do the readiness wait.
/// Dropping the listener closes the socket and, for a filesystem socket, removes its path if
/// it still names the socket this listener bound.
///
/// ```
/// use pidward::notify::{Accept, Listener};
///
/// let mut listener = Listener::bind_private()?;
/// assert!(listener.address().to_str().unwrap().starts_with('@'));
/// listener.set_accept(Accept::Tree(std::process::id()));
/// assert_eq!(listener.recv()?, None); // nothing sent yet: never blocks
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    address: OsString,
    /// For a filesystem socket: its path and the (device, inode) bound there.
    path: Option<(PathBuf, u64, u64)>,
    accept: Accept,
    ignored: AtomicU64,
}

impl Listener {
    /// Binds a fresh abstract socket with a name chosen by the kernel (autobind: bind(2) with
    /// an empty `sockaddr_un`). Its [`address`](Listener::address) looks like `@0001f`.
    ///
    /// Abstract sockets need no directory, survive the child's chroot and privilege drop, and
    /// vanish with the last descriptor; they are reachable from the same network namespace
    /// only. The sender check ([`Accept`]) is what keeps strangers out.
    pub fn bind_private() -> Result<Listener, Error> {
        let fd = new_socket()?;
        socket::bind(fd.as_raw_fd(), &UnixAddr::new_unnamed())
            .map_err(Error::sys(Call::Autobind))?;
        let bound: UnixAddr =
            socket::getsockname(fd.as_raw_fd()).map_err(Error::sys(Call::Getsockname))?;
        let name = bound.as_abstract().ok_or(Error::NoAbstractName)?;
        let mut address = OsString::from("@");
        address.push(OsStr::from_bytes(name));
        Ok(Listener {
            fd,
            address,
            path: None,
            accept: Accept::Descendants,
            ignored: AtomicU64::new(0),
        })
    }

    /// Binds a socket at an address in `NOTIFY_SOCKET` syntax: `@name` for the abstract
    /// namespace, or an absolute path. A path must not exist yet (an existing file, even a
    /// stale socket, is an error naming it: this never removes what it did not create); the
    /// socket file gets the mode `0666` less the umask, so restrict its directory as needed.
    ///
    /// ```
    /// use pidward::notify::Listener;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("notify.sock");
    /// let listener = Listener::bind(&path)?;
    /// assert_eq!(listener.address(), path.as_os_str());
    /// assert!(Listener::bind(&path).is_err()); // in use
    /// drop(listener);
    /// assert!(!path.exists()); // removed: it was ours
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(address: impl AsRef<OsStr>) -> Result<Listener, Error> {
        let address = address.as_ref();
        let addr = parse_address(address)?;
        let fd = new_socket()?;
        socket::bind(fd.as_raw_fd(), &addr).map_err(|e| Error::Bind {
            address: address.to_owned(),
            source: e.into(),
        })?;
        let path = match addr.path() {
            Some(path) => {
                let meta = std::fs::symlink_metadata(path).map_err(|source| Error::Stat {
                    path: path.to_owned(),
                    source,
                })?;
                Some((path.to_owned(), meta.dev(), meta.ino()))
            }
            None => None,
        };
        Ok(Listener {
            fd,
            address: address.to_owned(),
            path,
            accept: Accept::Descendants,
            ignored: AtomicU64::new(0),
        })
    }

    /// The value to put in the child's `NOTIFY_SOCKET`: `@name` or a path.
    pub fn address(&self) -> &OsStr {
        &self.address
    }

    /// Sets which senders are accepted from now on (the default is [`Accept::Descendants`]).
    /// A supervisor that learns a new main PID from `MAINPID=` may narrow or move it.
    pub fn set_accept(&mut self, accept: Accept) {
        self.accept = accept;
    }

    /// The current [`Accept`] policy.
    pub fn accept(&self) -> Accept {
        self.accept
    }

    /// How many datagrams were dropped so far: from senders the policy refuses (or that
    /// exited before they could be placed in the tree), without credentials, or with a NUL
    /// byte.
    pub fn ignored(&self) -> u64 {
        self.ignored.load(Ordering::Relaxed)
    }

    /// Receives the next accepted message, without blocking (recvmsg(2) with `MSG_DONTWAIT`,
    /// retried on `EINTR`).
    ///
    /// Returns `Ok(None)` when no datagram is waiting. Datagrams that are refused are dropped
    /// and counted, and reading goes on with the next; after a burst of 64 refused datagrams
    /// the call returns `Ok(None)` anyway, so that a flood cannot hold the caller: poll again.
    /// A datagram consisting only of `BARRIER=1` is answered (its descriptor closed) and not
    /// returned.
    pub fn recv(&self) -> Result<Option<Notification>, Error> {
        for _ in 0..64 {
            let Some(datagram) = Datagram::recv(self.fd.as_fd())? else {
                return Ok(None);
            };
            if let Some(notification) = self.check(datagram) {
                return Ok(Some(notification));
            }
        }
        Ok(None)
    }

    /// Applies the policy to one datagram; `None` if it is dropped. The datagram, and with it
    /// any descriptor it carried, is dropped on return, once the sender has been checked.
    fn check(&self, datagram: Datagram) -> Option<Notification> {
        let refuse = |why: &str| {
            self.ignored.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                sender = datagram.pid,
                uid = datagram.uid,
                "ignoring a notify message: {why}"
            );
            None
        };
        if !datagram.has_credentials && self.accept != Accept::Any {
            return refuse("it carries no credentials");
        }
        if !self.accepts(datagram.pid) {
            return refuse("the sender is outside the supervised process tree");
        }
        let Some(mut n) = Notification::parse(&datagram.bytes[..datagram.len], datagram.truncated)
        else {
            return refuse("it contains a NUL byte");
        };
        if n.fields.len() == 1 && n.get("BARRIER") == Some("1") {
            // Answered by closing the descriptor it carried, when `datagram` drops.
            return None;
        }
        if let Some(pid) = n.main_pid
            && !self.accepts(pid)
        {
            tracing::warn!(
                sender = datagram.pid,
                main_pid = pid,
                "ignoring MAINPID=: it names a process outside the supervised tree"
            );
            n.main_pid = None;
        }
        n.sender = datagram.pid;
        n.uid = datagram.uid;
        Some(n)
    }

    /// Whether the policy accepts process `pid` (in this PID namespace).
    fn accepts(&self, pid: u32) -> bool {
        match self.accept {
            Accept::Any => true,
            _ if pid == 0 => false,
            Accept::Main(main) => pid == main,
            Accept::Tree(root) => descends_from(pid, root),
            Accept::Descendants => descends_from(pid, std::process::id()),
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some((path, dev, ino)) = &self.path {
            // Remove only what is ours: the path must still name the socket we bound.
            if let Ok(meta) = std::fs::symlink_metadata(path)
                && meta.dev() == *dev
                && meta.ino() == *ino
                && let Err(err) = std::fs::remove_file(path)
            {
                tracing::warn!(path = %path.display(), "cannot remove notify socket: {err}");
            }
        }
    }
}

/// socket(2) `AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK` and setsockopt(2)
/// `SO_PASSCRED`, in that order, before the socket has an address.
fn new_socket() -> Result<OwnedFd, Error> {
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(Error::sys(Call::ListenerSocket))?;
    socket::setsockopt(&fd, sockopt::PassCred, &true).map_err(Error::sys(Call::PassCred))?;
    Ok(fd)
}

/// Whether `pid` is `ancestor` or one of its descendants, following the parent links in
/// `/proc/PID/stat`. A process that is gone (or unreadable) is not placed in any tree.
fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    // A parent chain is short; the bound only guards against a pathological /proc.
    for _ in 0..4096 {
        if pid == ancestor {
            return true;
        }
        if pid <= 1 {
            return false;
        }
        match parent_of(pid) {
            Some(parent) => pid = parent,
            None => return false,
        }
    }
    false
}

/// The parent PID of `pid`, from `/proc/PID/stat`; `None` if the process is gone, or its
/// record cannot be read on a third try. A read that fails otherwise than "no such process"
/// (EIO, ENOMEM, EAGAIN) says nothing about where the process is, so it is tried again
/// rather than taken for "outside the tree": that would drop the `READY=1` of the command
/// itself, and the start would fail as "did not declare readiness".
fn parent_of(pid: u32) -> Option<u32> {
    let pid = i32::try_from(pid).ok()?;
    for tries in 1.. {
        match crate::sys::proc_stat::read(pid) {
            Ok(stat) => return u32::try_from(stat.ppid).ok(),
            Err(e) if e.raw_os_error().is_none() || gone(&e) => return None,
            Err(e) if tries == 3 => {
                tracing::warn!(pid, "cannot place a notify sender in the tree: {e}");
                return None;
            }
            Err(_) => {}
        }
    }
    None
}

/// Whether a failed read of `/proc/PID/...` means that the process is gone.
fn gone(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_of_this_process_is_read_from_proc() {
        assert_eq!(
            parent_of(std::process::id()),
            Some(std::os::unix::process::parent_id())
        );
        assert!(descends_from(std::process::id(), 1));
        assert!(descends_from(
            std::process::id(),
            std::os::unix::process::parent_id()
        ));
        assert!(!descends_from(1, std::process::id()));
        assert!(
            !descends_from(u32::MAX, 1),
            "a missing process is in no tree"
        );
    }
}
