//! [`Stdio`] and [`Source`]: where the standard streams and the extra descriptors of a started
//! process come from, as the caller gives them to a [`Setup`](super::Setup).
//!
//! Plain data: nothing is opened here; [`Setup::prepare`](super::Setup::prepare) opens the
//! files and lays out the descriptor moves.

use std::fs::File;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Where a standard stream of the started process goes.
///
/// ```
/// use pidward::child::Stdio;
///
/// let _quiet = Stdio::null();
/// let _log = Stdio::append("/var/log/app.log").mode(0o640);
/// ```
#[derive(Debug)]
pub struct Stdio(pub(super) Kind);

#[derive(Debug)]
pub(super) enum Kind {
    Inherit,
    Null,
    Append { path: PathBuf, mode: u32 },
    Fd(OwnedFd),
}

impl Stdio {
    /// Keep the stream the caller has.
    pub fn inherit() -> Stdio {
        Stdio(Kind::Inherit)
    }

    /// `/dev/null` (opened read-write before any `chroot`).
    pub fn null() -> Stdio {
        Stdio(Kind::Null)
    }

    /// A file opened for appending (`O_APPEND`), created if missing with mode 0640 (exactly:
    /// the umask does not apply). An existing file keeps its mode. Opened by the caller,
    /// before any `chroot` or privilege drop.
    pub fn append(path: impl Into<PathBuf>) -> Stdio {
        Stdio(Kind::Append {
            path: path.into(),
            mode: 0o640,
        })
    }

    /// For [`Stdio::append`]: the mode of a newly created file. No effect on other kinds.
    pub fn mode(self, mode: u32) -> Stdio {
        match self.0 {
            Kind::Append { path, .. } => Stdio(Kind::Append {
                path,
                mode: mode & 0o7777,
            }),
            other => Stdio(other),
        }
    }

    /// The path of an [`append`](Stdio::append) target.
    pub(super) fn path(&self) -> Option<&Path> {
        match &self.0 {
            Kind::Append { path, .. } => Some(path),
            _ => None,
        }
    }
}

impl Stdio {
    pub(super) fn try_clone(&self) -> std::io::Result<Stdio> {
        Ok(Stdio(match &self.0 {
            Kind::Inherit => Kind::Inherit,
            Kind::Null => Kind::Null,
            Kind::Append { path, mode } => Kind::Append {
                path: path.clone(),
                mode: *mode,
            },
            Kind::Fd(fd) => Kind::Fd(fd.try_clone()?),
        }))
    }
}

impl From<OwnedFd> for Stdio {
    /// This descriptor (installed with `dup2`).
    fn from(fd: OwnedFd) -> Stdio {
        Stdio(Kind::Fd(fd))
    }
}

impl From<File> for Stdio {
    /// This open file.
    fn from(file: File) -> Stdio {
        Stdio(Kind::Fd(file.into()))
    }
}

/// Where a descriptor installed in the child comes from.
#[derive(Debug)]
pub(super) enum Source {
    /// Ours: closed in the parent once the child has it.
    Owned(OwnedFd),
    /// The caller's: it stays open for as long as the spawn runs (only the async process API
    /// lends descriptors).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    Borrowed(RawFd),
}

impl Source {
    pub(super) fn try_clone(&self) -> std::io::Result<Source> {
        Ok(match self {
            Source::Owned(fd) => Source::Owned(fd.try_clone()?),
            Source::Borrowed(fd) => Source::Borrowed(*fd),
        })
    }
}
