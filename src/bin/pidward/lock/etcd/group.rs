//! The command's process group, and the watchdog that kills it when pidward is killed.
//!
//! `PR_SET_PDEATHSIG(SIGKILL)` takes the command with a pidward that is killed (`kill -9`),
//! but only the command: what it forked is not pidward's child, keeps running, and would run
//! on without the lock once the lease expires. Nothing in pidward survives a `SIGKILL` to
//! stop it, so a second process does: a watchdog, `/bin/sh` running [`SCRIPT`], started
//! before the command as the leader of a new process group, which the command then joins.
//! Its standard input is the read end of a pipe whose write end only pidward holds
//! (close-on-exec, so the command does not inherit it). When pidward dies, however it dies,
//! the kernel closes that end, the watchdog's `read` sees end-of-file, and `kill -KILL 0`
//! kills the whole group, the watchdog with it, within milliseconds: long before etcd can
//! expire the lease (a TTL of at least 2 s) and hand the lock to a waiter. Signalling its own
//! group, it cannot hit a recycled process group ID.
//!
//! The watchdog ignores the signals a terminal or a group-wide `kill` sends (`INT`, `QUIT`,
//! `HUP`, `TERM`, ...), so that it outlives the command; when the command has exited
//! normally, pidward kills it (its own unreaped child) and reaps it. What leaves the group
//! (`setsid`, `setpgid`) escapes it, as it escapes any process-group kill.

use std::io;
use std::os::fd::OwnedFd;

use pidward::child::{Exec, Setup, Stdio};
use rustix::pipe::{PipeFlags, pipe_with};

/// The watchdog: ignore what would end it early, wait for end-of-file, kill the group.
const SCRIPT: &str = "trap '' HUP INT QUIT TERM USR1 USR2 PIPE ALRM; read _; kill -KILL 0";

/// The command's process group, led by the watchdog.
pub(super) struct Group {
    watchdog: u32,
    /// The write end of the watchdog's pipe: closed when pidward exits.
    _alive: OwnedFd,
}

impl Group {
    /// Start the watchdog in a new process group of its own.
    pub(super) fn start() -> io::Result<Group> {
        let (read, write) = pipe_with(PipeFlags::CLOEXEC)?;
        let mut exec = Exec::new("/bin/sh");
        exec.args(["-c", SCRIPT, "pidward-watchdog"]);
        let spawned = Setup::new()
            .stdin(Stdio::from(read))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .close_fds(true)
            .spawn(&exec)
            .map_err(|e| e.os_error())?;
        let (pid, _pidfd) = spawned.into_parts();
        Ok(Group {
            watchdog: pid,
            _alive: write,
        })
    }

    /// The process group ID (the watchdog's PID).
    pub(super) fn pgid(&self) -> i32 {
        self.watchdog as i32
    }

    /// `kill(2)` to the whole group (the watchdog ignores catchable signals). The watchdog is
    /// our unreaped child, so the group ID cannot have been reused.
    pub(super) fn signal(&self, signo: i32) {
        // SAFETY: kill(2) with a negative PID signals the group our unreaped child leads.
        unsafe { libc::kill(-self.pgid(), signo) };
    }
}

impl Drop for Group {
    /// The command is done: end the watchdog (without it killing the group) and reap it.
    fn drop(&mut self) {
        let pid = self.watchdog as libc::pid_t;
        // SAFETY: kill(2) and waitpid(2) on our own unreaped child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            let mut status = 0;
            while libc::waitpid(pid, &mut status, 0) < 0
                && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
            {}
        }
    }
}
