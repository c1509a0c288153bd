//! Being the child subreaper: orphans of our descendants are re-parented to us, not to init.

use std::io;

use rustix::process::{Pid, child_subreaper, set_child_subreaper};

/// [`prctl(2)`] `PR_SET_CHILD_SUBREAPER`: become (or stop being) a subreaper.
///
/// A subreaper receives the orphaned descendants of its children, so it can reap them and
/// see the whole tree it started. The attribute is not inherited across `fork`.
///
/// [`prctl(2)`]: https://man7.org/linux/man-pages/man2/prctl.2.html
pub fn set(on: bool) -> io::Result<()> {
    // The kernel reads the argument as a boolean; rustix spells it as an optional PID.
    Ok(set_child_subreaper(if on {
        Pid::from_raw(1)
    } else {
        None
    })?)
}

/// [`prctl(2)`] `PR_GET_CHILD_SUBREAPER`: whether this process is a subreaper.
///
/// [`prctl(2)`]: https://man7.org/linux/man-pages/man2/prctl.2.html
pub fn get() -> io::Result<bool> {
    Ok(child_subreaper()?.is_some())
}

/// The one child a subreaper's sweep of exited orphans must leave to its owner (0: none).
static SPARED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Marks `pid` (a child started for the supervisor's own use, such as a readiness check) as
/// one that a sweep of exited orphans must not reap: its owner collects its status. 0 clears.
pub fn spare(pid: i32) {
    SPARED.store(pid, std::sync::atomic::Ordering::SeqCst);
}

/// Whether a sweep must leave `pid` alone ([`spare`]).
pub fn is_spared(pid: i32) -> bool {
    pid != 0 && SPARED.load(std::sync::atomic::Ordering::SeqCst) == pid
}

#[cfg(test)]
mod tests {
    #[test]
    fn set_then_get_round_trips() {
        let was = super::get().unwrap();
        super::set(true).unwrap();
        assert!(super::get().unwrap());
        super::set(false).unwrap();
        assert!(!super::get().unwrap());
        super::set(was).unwrap();
    }
}
