//! The lock target: the file opened as flock(1) opens it, or the caller's descriptor; the NFS
//! reopen; and whether the command inherits the descriptor.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::options::{Invocation, Op, Target};
use super::{CANNOT_CREATE, CANNOT_OPEN, Failure, OS_ERROR, os_text};
use pidward::flock::Mode;

/// An open lock target and how to name it in messages.
pub struct Locking<'a> {
    pub fd: Held<'a>,
    pub label: String,
    pub path: Option<&'a Path>,
    writable: bool,
}

/// The descriptor locked: one we opened, or the caller's.
pub enum Held<'a> {
    Own(OwnedFd),
    Inherited(BorrowedFd<'a>),
}

impl Held<'_> {
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Held::Own(fd) => fd.as_fd(),
            Held::Inherited(fd) => *fd,
        }
    }
}

impl<'a> Locking<'a> {
    /// Open what `inv` names; an exclusive `--fcntl` lock needs the file open for writing.
    pub fn open(inv: &'a Invocation) -> Result<Locking<'a>, Failure> {
        let write_only = inv.fcntl && inv.op == Op::Lock(Mode::Exclusive);
        Ok(match &inv.target {
            Target::Path(path) => {
                let path = Path::new(path);
                Locking {
                    fd: Held::Own(open_lock_file(path, write_only, false)?),
                    label: path.display().to_string(),
                    path: Some(path),
                    writable: write_only,
                }
            }
            Target::Fd(n) => Locking {
                // SAFETY: the caller's descriptor, used only while this process runs and never
                // closed by it; if it is not open, flock(2) or fcntl(2) says EBADF.
                fd: Held::Inherited(unsafe { BorrowedFd::borrow_raw(*n) }),
                label: n.to_string(),
                path: None,
                writable: false,
            },
        })
    }

    /// flock's NFS fallback, when `e` calls for it: reopen read-write in place of the old
    /// descriptor (as flock's close-then-open has it, the command finds the lock on the same
    /// descriptor number). `Ok(false)`: `e` is not a case for it.
    pub fn reopen(&mut self, inv: &Invocation, e: &io::Error) -> Result<bool, Failure> {
        if !reopen_read_write(inv, self, e) {
            return Ok(false);
        }
        let (Some(path), Held::Own(old)) = (self.path, &mut self.fd) else {
            return Ok(false);
        };
        let new = open_lock_file(path, false, true)?;
        rustix::io::dup2(&new, old)
            .map_err(|e| Failure::new(OS_ERROR, format!("dup2: {}", os_text(&e.into()))))?;
        self.writable = true;
        Ok(true)
    }
}

/// flock's NFS fallback: a lock refused with `EIO` or `EBADF` on a descriptor we opened
/// read-only is tried again on one opened read-write, when the file allows it (flock(2) is
/// emulated with fcntl(2) locks there, which want a writable descriptor to lock exclusively).
fn reopen_read_write(inv: &Invocation, target: &Locking<'_>, e: &io::Error) -> bool {
    let (Some(path), Held::Own(_)) = (target.path, &target.fd) else {
        return false;
    };
    matches!(e.raw_os_error(), Some(libc::EIO | libc::EBADF))
        && !target.writable
        && inv.op != Op::Lock(Mode::Shared)
        && rustix::fs::access(
            path,
            rustix::fs::Access::READ_OK | rustix::fs::Access::WRITE_OK,
        )
        .is_ok()
}

/// "file descriptor 9 (/tmp/x)".
pub fn fd_label(n: &str) -> String {
    match std::fs::read_link(format!("/proc/self/fd/{n}")) {
        Ok(p) => format!("file descriptor {n} ({})", p.display()),
        Err(_) => format!("file descriptor {n}"),
    }
}

/// Let the command inherit the locked descriptor, or not (`-o`), by its close-on-exec flag:
/// this process is single-threaded, so no other child can catch it, and no hook has to run
/// between fork and exec. `fcntl(2)` `F_GETFD`/`F_SETFD`; an `EINTR` is retried, never reported.
pub fn pass_on(fd: &Held<'_>, close: bool) -> Result<(), Failure> {
    let fd = fd.as_fd();
    let flags = retry(|| rustix::io::fcntl_getfd(fd)).map_err(|e| step_failed("F_GETFD", e))?;
    let flags = if close {
        flags | rustix::io::FdFlags::CLOEXEC
    } else {
        flags - rustix::io::FdFlags::CLOEXEC
    };
    retry(|| rustix::io::fcntl_setfd(fd, flags)).map_err(|e| step_failed("F_SETFD", e))
}

/// `call`, again as long as it fails with `EINTR`.
fn retry<T>(mut call: impl FnMut() -> rustix::io::Result<T>) -> rustix::io::Result<T> {
    loop {
        match call() {
            Err(rustix::io::Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// "cannot pass the lock on to the command: fcntl F_SETFD: <error>".
fn step_failed(what: &str, e: rustix::io::Errno) -> Failure {
    Failure::new(
        OS_ERROR,
        format!(
            "cannot pass the lock on to the command: fcntl {what}: {}",
            os_text(&e.into())
        ),
    )
}

/// Open the lock file as flock(1) does (module docs).
fn open_lock_file(path: &Path, write_only: bool, read_write: bool) -> Result<OwnedFd, Failure> {
    let open = |create: bool| {
        let mut o = std::fs::OpenOptions::new();
        // O_NONBLOCK: opening a FIFO or a device never hangs; flock(2) ignores the flag.
        let mut flags = libc::O_NOCTTY | libc::O_NONBLOCK;
        if create {
            // O_CREAT without O_EXCL: std wants write access for `create`, so ask by flag.
            flags |= libc::O_CREAT;
        }
        match (write_only, read_write, create) {
            (_, true, true) => o.read(true).write(true),
            (true, false, true) => o.write(true),
            _ => o.read(true),
        };
        o.custom_flags(flags).mode(0o666);
        o.open(path)
    };
    let result = match open(true) {
        // Linux refuses O_CREAT (and writing) on a directory: open it read-only.
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => open(false),
        other => other,
    };
    result.map(OwnedFd::from).map_err(|e| {
        let code = match e.raw_os_error() {
            Some(libc::ENOMEM | libc::EMFILE | libc::ENFILE) => OS_ERROR,
            Some(libc::EROFS | libc::ENOSPC) => CANNOT_CREATE,
            _ => CANNOT_OPEN,
        };
        Failure::new(
            code,
            format!("cannot open lock file {}: {}", path.display(), os_text(&e)),
        )
    })
}
