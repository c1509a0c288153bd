//! The state file beside a PID file: `F.state` for the PID file `F`, written by the
//! supervisor ([`StateFile`]) and read by anyone ([`read`]) without a server.
//!
//! **Where.** The same directory as `F`, so the same permissions and the same lifetime (`/run`
//! is emptied at boot), and no second path to configure.
//!
//! **When it is true.** The supervisor replaces the file at each transition ([`Phase`]): it
//! writes `F.state.new` in full, then `rename(2)`s it over `F.state`, so that a reader opens
//! either the old file or the new one, never a half-written one (and a last `end` line lets a
//! reader reject a file cut short anyway). Its content holds while the PID file is locked by
//! the supervisor it names ([`read`] checks that), and the supervisor removes it before it
//! releases the PID file. Two exceptions: a supervisor that gave up ([`Phase::Failed`], its
//! restart limit reached) leaves it behind as the record of why the service is down; and one
//! that gave up on a failing system call with part of the service still running
//! ([`Phase::Abandoned`]) leaves it, and the PID file, as the record of what is left and
//! where. A later start replaces it. The text format is [`state`](super::state)'s.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::state::{Phase, State};
use crate::pidfile::{self, Status};

/// The state file of the PID file `pidfile`: `pidfile` with `.state` appended.
pub fn path_for(pidfile: &Path) -> PathBuf {
    let mut name = pidfile.as_os_str().to_owned();
    name.push(".state");
    PathBuf::from(name)
}

/// The writer of a state file beside a PID file (the module docs say where and when it is
/// true); its clones share the last state written.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
    temp: PathBuf,
    /// Shared by the clones: the last state written, and the count of dropped lines the
    /// logs reported, which every write carries.
    shared: Arc<Mutex<Shared>>,
}

#[derive(Debug, Default)]
struct Shared {
    last: Option<State>,
    dropped: u64,
}

impl StateFile {
    /// The state file beside the PID file `pidfile` (nothing is written yet).
    pub fn beside(pidfile: &Path) -> StateFile {
        let path = path_for(pidfile);
        let mut temp = path.as_os_str().to_owned();
        temp.push(".new");
        StateFile {
            path,
            temp: PathBuf::from(temp),
            shared: Arc::default(),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file with `state`: the whole text to `F.state.new` (`O_NOFOLLOW`, mode
    /// 0644), then `rename(2)` over `F.state`.
    pub fn write(&self, state: &State) -> io::Result<()> {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = state.clone();
        state.dropped = state.dropped.max(shared.dropped);
        let written = self.write_text(&state.encode());
        shared.last = Some(state);
        written
    }

    /// Records the count of dropped lines (see [`State::dropped`]): it goes into every later
    /// write, and the last state written is written again with it now.
    pub fn set_dropped(&self, dropped: u64) -> io::Result<()> {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        shared.dropped = dropped;
        match &mut shared.last {
            Some(last) if last.dropped != dropped => {
                last.dropped = dropped;
                self.write_text(&last.encode())
            }
            _ => Ok(()),
        }
    }

    fn write_text(&self, text: &str) -> io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&self.temp)?;
        file.write_all(text.as_bytes())?;
        drop(file);
        fs::rename(&self.temp, &self.path)
    }

    /// Removes the file (and a temporary one left by a failed write); absent is fine.
    pub fn remove(&self) -> io::Result<()> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).last = None;
        let _ = fs::remove_file(&self.temp);
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// The state of the service whose PID file is `pidfile`, when it can be trusted: the PID
/// file is locked by the supervisor the state names, or the state is [`Phase::Failed`] or
/// [`Phase::Abandoned`] and nobody holds the PID file (the record a supervisor that gave up leaves). `None` when
/// there is no state file, or it is stale or unreadable.
///
/// ```
/// use pidward::pidfile::PidFile;
/// use pidward::supervise::{Policy, State, StateFile, read_state};
///
/// let dir = tempfile::tempdir()?;
/// let pid = dir.path().join("svc.pid");
/// let guard = PidFile::acquire(&pid)?;
/// let file = StateFile::beside(&pid);
/// file.write(&State::new(Policy::Always, "tree"))?;
/// assert_eq!(read_state(&pid).unwrap().policy, Policy::Always);
/// drop(guard); // unlocked: the state no longer holds
/// assert!(read_state(&pid).is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read(pidfile: &Path) -> Option<State> {
    // The state file first: without one, the PID file is not looked at.
    let state = decode(pidfile)?;
    trusted(state, &pidfile::status(pidfile))
}

/// [`read`], for a caller that has just taken the PID file's [`Status`] itself: the state
/// is judged against that one rather than a second look at the file.
///
/// ```
/// use pidward::pidfile::{self, PidFile};
/// use pidward::supervise::{Policy, State, StateFile, read_state_given};
///
/// let dir = tempfile::tempdir()?;
/// let pid = dir.path().join("svc.pid");
/// let guard = PidFile::acquire(&pid)?;
/// StateFile::beside(&pid).write(&State::new(Policy::Always, "tree"))?;
/// let status = pidfile::status(&pid);
/// assert_eq!(read_state_given(&pid, &status).unwrap().policy, Policy::Always);
/// drop(guard);
/// assert!(read_state_given(&pid, &pidfile::status(&pid)).is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_given(pidfile: &Path, status: &Status) -> Option<State> {
    trusted(decode(pidfile)?, status)
}

/// The most of a state file that is read (one is a few hundred bytes).
const MAX_STATE: usize = 1 << 20;

/// The state file beside `pidfile`, decoded. Opened without following a final symlink or
/// waiting for a FIFO's writer (whoever may write in the PID file's directory can put
/// anything there; a FIFO reads as nothing), and read up to [`MAX_STATE`].
fn decode(pidfile: &Path) -> Option<State> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path_for(pidfile))
        .ok()?;
    let bytes = crate::sys::proc_file::read_short_from(&file, MAX_STATE).ok()?;
    State::decode(std::str::from_utf8(&bytes).ok()?)
}

/// `state`, if the PID file's `status` lets it be trusted (see [`read`]).
fn trusted(state: State, status: &Status) -> Option<State> {
    match *status {
        Status::Running { pid, locked: true } if pid == state.supervisor => Some(state),
        Status::Running { .. } | Status::Starting => None,
        _ if matches!(state.phase, Phase::Failed | Phase::Abandoned) => Some(state),
        _ => None,
    }
}
