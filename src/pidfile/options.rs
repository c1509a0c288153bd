//! How to acquire a PID file: mode, owner, parents, re-entry, deferred write, waiting.

use std::path::Path;

use super::{Error, PidFile};
use crate::flock::Wait;

/// Options for acquiring a PID file; start from [`PidFile::options`].
#[derive(Debug, Clone)]
pub struct Options {
    pub(super) mode: u32,
    pub(super) uid: Option<u32>,
    pub(super) gid: Option<u32>,
    pub(super) create_dirs: bool,
    pub(super) reentrant: bool,
    pub(super) defer_write: bool,
    pub(super) wait: Wait,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            mode: 0o644,
            uid: None,
            gid: None,
            create_dirs: false,
            reentrant: false,
            defer_write: false,
            wait: Wait::No,
        }
    }
}

impl Options {
    /// The file's permission bits, applied exactly (the umask does not apply; 0 is honoured).
    /// Default 0644.
    pub fn mode(mut self, mode: u32) -> Options {
        self.mode = mode & 0o7777;
        self
    }

    /// Give the file to this owner and/or group (`fchown(2)`) once it is locked.
    pub fn owner(mut self, uid: Option<u32>, gid: Option<u32>) -> Options {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Create missing parent directories (mode 0755). Default: no.
    pub fn create_dirs(mut self, yes: bool) -> Options {
        self.create_dirs = yes;
        self
    }

    /// Let a process that already holds this PID file acquire it again: the guards share one
    /// lock, and the file is removed when the last of them is dropped. Default: no (a second
    /// acquisition in the same process is "already running").
    pub fn reentrant(mut self, yes: bool) -> Options {
        self.reentrant = yes;
        self
    }

    /// Lock the file but write no PID until [`PidFile::write_pid`]: readers see the state
    /// [`Status::Starting`](super::Status::Starting) meanwhile. For launchers whose PID is
    /// not the one to record (a daemon records its final, detached PID).
    pub fn defer_write(mut self, yes: bool) -> Options {
        self.defer_write = yes;
        self
    }

    /// Wait for the lock instead of failing at once. Default: [`Wait::No`].
    pub fn wait(mut self, wait: Wait) -> Options {
        self.wait = wait;
        self
    }

    /// Acquire the PID file at `path` with these options.
    pub fn acquire(&self, path: impl AsRef<Path>) -> Result<PidFile, Error> {
        super::guard::acquire_with(path.as_ref(), self)
    }
}
