//! The launcher's hold on the process it starts: `waitpid(2)` and the subreaper flag.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

/// Waits for a child: `waitpid(2)`. With a timeout, polls with `WNOHANG` until it passes;
/// `None` if the process is not our child or did not end in time.
pub(super) fn wait_pid(pid: i32, timeout: Option<Duration>) -> Option<ExitStatus> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let mut status = 0;
        let flags = if deadline.is_some() { libc::WNOHANG } else { 0 };
        // SAFETY: plain system call with a pointer to a live integer.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r == pid {
            return Some(ExitStatus::from_raw(status));
        }
        if r < 0 && errno() != libc::EINTR {
            return None;
        }
        match deadline {
            Some(d) if Instant::now() >= d => return None,
            Some(_) => std::thread::sleep(Duration::from_millis(5)),
            None => {}
        }
    }
}

/// The launcher's child-subreaper flag (`prctl(PR_SET_CHILD_SUBREAPER)`), set for the start
/// and restored afterwards, so that the detached process is re-parented to the launcher when
/// the middle process exits, and the launcher can learn how it died.
pub(super) struct Subreaper {
    restore: bool,
}

impl Subreaper {
    pub(super) fn enable() -> Subreaper {
        use rustix::process::{child_subreaper, getpid, set_child_subreaper};
        let was_off = matches!(child_subreaper(), Ok(None));
        let restore = was_off && set_child_subreaper(Some(getpid())).is_ok();
        Subreaper { restore }
    }
}

impl Drop for Subreaper {
    fn drop(&mut self) {
        if self.restore {
            let _ = rustix::process::set_child_subreaper(None);
        }
    }
}

/// The calling thread's `errno`.
fn errno() -> i32 {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}
