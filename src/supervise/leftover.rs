//! What a supervisor that died leaves behind: the processes of its run's cgroup.
//!
//! The supervisor's parent-death signal reaches its direct child only: a `SIGKILL` to the
//! supervisor leaves the rest of the tree running, re-parented, with a stale PID file that
//! names nobody. Where the run had a cgroup of its own (`cgroup.rs`: root, or a delegated
//! subtree), the tree is still whole in it, and the state file names it (`cgroup=`), so
//! [`leftover`] can find it from the PID file, and `stop`, `status` and `run` act on it.
//!
//! A state file is an instruction to signal processes, so it is believed only when all of
//! these hold:
//!
//! 1. the PID file is stale and names a PID (dead, a zombie, or reused since:
//!    [`crate::liveness`]);
//! 2. the PID file and the state file pass the rules `stop` applies to a PID file (the
//!    state file is opened with `O_NOFOLLOW`, and is a regular file);
//! 3. the state names that PID as its supervisor, and a cgroup directory `pidward.PID.N` of
//!    that same PID;
//! 4. the directory is a real cgroup: below `/sys/fs/cgroup`, already canonical (no symlink,
//!    no `..`), on a `cgroup2` file system (`statfs(2)`), inside a `cgroup2` mount;
//! 5. its `cgroup.procs` lists a process.
//!
//! Membership is the kernel's: whatever the members did (a double fork, `setsid(2)`), they
//! are in the list, and nothing outside the cgroup is. [`Leftover::stop`] runs a stop
//! schedule on them as the supervisor would have: milder signals to each member (pinned by a
//! pidfd, checked to be still a member), `cgroup.kill` for `KILL`, waits on `cgroup.events`;
//! then it removes the empty cgroup (`rmdir(2)`).

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::cgroup::Cgroup;
use super::retry::retry;
use super::state::State;
use super::state_file;
use crate::Signal;
use crate::pidfile::{self, Status};
use crate::stop::{Schedule, Step};

/// The processes a dead supervisor left in its run's cgroup ([`leftover`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// The PID the PID file names: the supervisor, gone.
    pub supervisor: u32,
    /// The run's cgroup directory.
    pub cgroup: PathBuf,
    /// Its members when it was read (`cgroup.procs`).
    pub pids: Vec<u32>,
}

/// How [`Leftover::stop`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cleared {
    /// Every member seen during the stop, in the order found.
    pub pids: Vec<u32>,
    /// The signals sent, in order (`SIGCONT` follow-ups left out).
    pub sent: Vec<Signal>,
    /// Whether the cgroup is empty now (and was removed).
    pub gone: bool,
}

/// The processes left running in the cgroup of the dead supervisor that the PID file
/// `pidfile` names, if there are any and the files can be believed (module docs).
pub fn leftover(pidfile: &Path) -> Option<Leftover> {
    // Most PID files have no state beside them (a run that ended removed it, `--exec` writes
    // none): one `open(2)` answers for those, before the PID file is read, probed for its
    // lock and its process looked for (ten calls), or the rules of rule 2 are looked at.
    let state_file = open_state(pidfile)?;
    let found = pidfile::inspect(pidfile);
    let Status::Stale { pid, .. } = found.status else {
        return None;
    };
    crate::stop::trust::check(pidfile, found.meta.as_ref()?, pid).ok()?;
    let state = read_state(state_file, pidfile, pid)?;
    let dir = state.cgroup.filter(|_| state.supervisor == pid)?;
    if !is_run_cgroup(&dir, pid) {
        return None;
    }
    let pids: Vec<u32> = std::fs::read_to_string(dir.join("cgroup.procs"))
        .ok()?
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    (!pids.is_empty()).then_some(Leftover {
        supervisor: pid,
        cgroup: dir,
        pids,
    })
}

impl Leftover {
    /// Runs `schedule` on the cgroup's members (`KILL` is `cgroup.kill`); removes the cgroup
    /// once it is empty. A schedule without waits sends its signals once and waits for
    /// nothing.
    pub fn stop(&self, schedule: &Schedule) -> io::Result<Cleared> {
        let cgroup = Cgroup::existing(&self.cgroup)?;
        let mut cleared = Cleared {
            pids: Vec::new(),
            sent: Vec::new(),
            gone: false,
        };
        let mut failed: Option<io::Error> = None;
        let note = |cleared: &mut Cleared, pids: Vec<u32>| {
            for pid in pids {
                if !cleared.pids.contains(&pid) {
                    cleared.pids.push(pid);
                }
            }
        };
        for step in schedule.run_order() {
            if cgroup.is_empty() {
                cleared.gone = true;
                break;
            }
            match step {
                Step::Signal(Signal::KILL) => {
                    note(&mut cleared, members(&cgroup));
                    // Tried again when it fails; the schedule goes on either way, and the
                    // failure is the answer only if the cgroup outlives it.
                    match retry(|| cgroup.kill()) {
                        Ok(()) => cleared.sent.push(Signal::KILL),
                        Err(e) => {
                            failed.get_or_insert(e);
                        }
                    }
                }
                Step::Signal(signal) => {
                    let sent = cgroup.signal(signal, &[]);
                    note(&mut cleared, sent.into_iter().map(|p| p as u32).collect());
                    cleared.sent.push(signal);
                }
                Step::Wait(d) => {
                    if wait_empty(&cgroup, d) {
                        cleared.gone = true;
                        break;
                    }
                }
                Step::Forever => {}
            }
        }
        cleared.gone = cleared.gone || (schedule.waits() && cgroup.is_empty());
        drop(cgroup); // rmdir(2), which only an empty cgroup allows
        match failed {
            Some(e) if !cleared.gone => Err(io::Error::new(
                e.kind(),
                format!("writing cgroup.kill: {e}"),
            )),
            _ => Ok(cleared),
        }
    }
}

/// The state file beside `pidfile`, opened without following a symlink or waiting on a
/// FIFO; `None` if there is none (or it cannot be opened).
fn open_state(pidfile: &Path) -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(state_file::path_for(pidfile))
        .ok()
}

/// The state file beside `pidfile` (opened by [`open_state`]), as its bytes say (whoever
/// holds the PID file), if it passes the trust rules for a file naming `pid`.
fn read_state(mut file: std::fs::File, pidfile: &Path, pid: u32) -> Option<State> {
    let path = state_file::path_for(pidfile);
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    crate::stop::trust::check(&path, &meta, pid).ok()?;
    let mut text = String::new();
    file.by_ref().take(1 << 20).read_to_string(&mut text).ok()?;
    State::decode(&text)
}

/// Whether `dir` is the cgroup of a run of the supervisor `pid` (module docs, rule 4).
fn is_run_cgroup(dir: &Path, pid: u32) -> bool {
    let named = dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(&format!("pidward.{pid}.")))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    named
        && dir.starts_with("/sys/fs/cgroup")
        && std::fs::canonicalize(dir).is_ok_and(|c| c == dir)
        && is_cgroup2(dir)
        && crate::sys::cgroup::name_of(dir).is_ok()
}

/// Whether `dir` is a directory of a `cgroup2` file system (`fstatfs(2)`, `O_NOFOLLOW`).
#[allow(clippy::useless_conversion)] // f_type and the constant are as wide as the target says
fn is_cgroup2(dir: &Path) -> bool {
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)
    else {
        return false;
    };
    rustix::fs::fstatfs(file.as_fd())
        .is_ok_and(|st| i64::from(st.f_type) == i64::from(libc::CGROUP2_SUPER_MAGIC))
}

/// The cgroup's members, as PIDs.
fn members(cgroup: &Cgroup) -> Vec<u32> {
    cgroup.members().into_iter().map(|p| p as u32).collect()
}

/// Waits up to `limit` for the cgroup to empty; whether it did.
fn wait_empty(cgroup: &Cgroup, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cgroup.is_empty() {
            return true;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
}
