//! The service's own cgroup (v2): made before the spawn, joined by the command in its set-up
//! ([`Setup::cgroup`](crate::child::Setup::cgroup)), ended with `cgroup.kill`, removed after.
//!
//! Every process the command starts is born in it, whatever it does afterwards: a double
//! fork, `setsid(2)`, re-parenting to another subreaper. Membership is the kernel's, so the
//! tree is complete and cannot be raced: `cgroup.kill` (Linux 5.14) sends `SIGKILL` to every
//! member at once, forks in flight included. Milder signals go to each member from
//! `cgroup.procs`, pinned by a pidfd and checked to be still in the cgroup before the signal
//! (`pidfd_open(2)`, `/proc/PID/cgroup`, `pidfd_send_signal(2)`): a PID that was recycled
//! meanwhile is not in it.
//!
//! The cgroup is a child of the supervisor's own, named `pidward.PID.N` (the supervisor's
//! PID, the run's number). Creating it needs write access to the supervisor's cgroup
//! directory (root, or a delegated subtree); where that fails the supervisor falls back to
//! the subreaper and process groups ([`Mechanism`](super::Mechanism)). It is removed
//! (`rmdir(2)`) when the run is over and nothing is left in it.

use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::fs::{Mode, OFlags};

use crate::Signal;
use crate::pidfd::PidFd;

/// Runs of this process so far: each gets a cgroup of its own.
static RUNS: AtomicU32 = AtomicU32::new(0);

/// A cgroup made for one run of a service; removed on drop if empty.
#[derive(Debug)]
pub(crate) struct Cgroup {
    dir: PathBuf,
    /// Its path relative to the hierarchy's root, as `/proc/PID/cgroup` shows it.
    name: String,
    /// Removed already ([`Cgroup::remove_if_empty`]): empty, and nothing to do on drop.
    removed: std::cell::Cell<bool>,
}

/// How many names [`make_leaf`] tries before it gives up.
const NAME_TRIES: u32 = 64;

/// Makes the next free `pidward.PID.N` under `parent` (`mkdir(2)`), and returns its directory
/// and name. A name that exists already is the leftover of an earlier process with this PID
/// (one killed before it could remove its cgroup: our PID is ours, so that process is gone);
/// it is left alone, for `pidward stop` to find through its state file, and the next number
/// is tried.
fn make_leaf(parent: &Path) -> io::Result<(PathBuf, String)> {
    let mut last = None;
    for _ in 0..NAME_TRIES {
        let leaf = format!(
            "pidward.{}.{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let dir = parent.join(&leaf);
        match std::fs::DirBuilder::new().mode(0o755).create(&dir) {
            Ok(()) => return Ok((dir, leaf)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)))
}

impl Cgroup {
    /// Makes `pidward.PID.N` under this process's cgroup (`mkdir(2)`), checks that it can be
    /// killed (`cgroup.kill`, Linux 5.14), and opens its directory (`O_PATH`) for the child's
    /// `clone3(CLONE_INTO_CGROUP)`, or its `cgroup.procs` where that is refused
    /// ([`Setup::cgroup_dir`](crate::child::Setup::cgroup_dir)): `(cgroup, directory)`.
    pub(crate) fn create() -> io::Result<(Cgroup, OwnedFd)> {
        let (parent, own) = crate::sys::cgroup::own()?;
        let (dir, leaf) = make_leaf(&parent)?;
        let cgroup = Cgroup {
            dir,
            name: format!("{own}/{leaf}"),
            removed: std::cell::Cell::new(false),
        };
        // Dropped (removed) if either is missing. Every cgroup but the root has `cgroup.kill`
        // where the kernel has it, so a parent that is not the root answers for the leaf: its
        // entry is looked up at every start and stays cached, where the new leaf's file would
        // be made at its first lookup (an inode a start). Under the root, the leaf is asked.
        // `faccessat(2)`, a system call of its own: std's `metadata` goes through `statx`,
        // which std looks up in the C library (`dlsym`) at its first use, and this is usually
        // the first, at the deepest point of a supervisor's start.
        let probe = if own.is_empty() { &cgroup.dir } else { &parent };
        rustix::fs::access(probe.join("cgroup.kill"), rustix::fs::Access::EXISTS)?;
        let dir = rustix::fs::open(
            &cgroup.dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok((cgroup, dir))
    }

    /// The cgroup at `dir`, made by another process (a supervisor that died): its name is
    /// read back from the `cgroup2` mounts (`NotFound` where none holds `dir`).
    pub(crate) fn existing(dir: &Path) -> io::Result<Cgroup> {
        Ok(Cgroup {
            dir: dir.to_owned(),
            name: crate::sys::cgroup::name_of(dir)?,
            removed: std::cell::Cell::new(false),
        })
    }

    /// The cgroup's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its `cgroup.procs` file.
    pub(crate) fn procs_path(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// The PIDs in it now (`cgroup.procs`); empty if it cannot be read.
    pub(crate) fn members(&self) -> Vec<i32> {
        crate::sys::proc_file::read_string(self.procs_path())
            .map(|t| {
                t.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether no live process is left in it (`cgroup.events`: `populated 0`).
    pub(crate) fn is_empty(&self) -> bool {
        if self.removed.get() {
            return true;
        }
        match crate::sys::proc_file::read_short_string(self.dir.join("cgroup.events")) {
            Ok(events) => events.lines().any(|l| l == "populated 0"),
            Err(_) => self.members().is_empty(),
        }
    }

    /// Whether it is empty, found by removing it (`rmdir(2)`, which the kernel refuses with
    /// `EBUSY` while a process is in it): at the end of a run, where it is empty, that is the
    /// one system call its removal takes anyway, and no `cgroup.events` is opened (the kernel
    /// makes a cgroup file's inode at its first lookup). A refusal (a process in it, a cgroup
    /// the service made below it) is answered by [`is_empty`](Cgroup::is_empty).
    pub(crate) fn remove_if_empty(&self) -> bool {
        if self.removed.get() {
            return true;
        }
        match std::fs::remove_dir(&self.dir) {
            Ok(()) => {
                self.removed.set(true);
                true
            }
            // EBUSY: a process in it, or a cgroup below it (perhaps empty): `populated` says.
            Err(_) => self.is_empty(),
        }
    }

    /// `SIGKILL` to every member at once (writing `1` to `cgroup.kill`).
    pub(crate) fn kill(&self) -> io::Result<()> {
        std::fs::OpenOptions::new()
            .write(true)
            .open(self.dir.join("cgroup.kill"))?
            .write_all(b"1")
    }

    /// `signal` to every member but `except` (the caller signals that one by its own pidfd),
    /// each pinned by a pidfd and checked to be still a member first. Returns the PIDs
    /// signalled.
    pub(crate) fn signal(&self, signal: Signal, except: &[i32]) -> Vec<i32> {
        let mut sent = Vec::new();
        for pid in self.members() {
            if except.contains(&pid) {
                continue;
            }
            let Ok(pidfd) = PidFd::open(pid as u32) else {
                continue;
            };
            if !self.holds(pid) {
                continue;
            }
            if pidfd.send_signal(signal).is_ok() {
                if signal.is_catchable() && signal != Signal::CONT {
                    let _ = pidfd.send_signal(Signal::CONT);
                }
                sent.push(pid);
            }
        }
        sent
    }

    /// Whether `pid` is in this cgroup now (`/proc/PID/cgroup`).
    fn holds(&self, pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .is_ok_and(|t| t.lines().any(|l| l.strip_prefix("0::") == Some(&self.name)))
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // EBUSY while a member lives (a kill mode that lets orphans run on): left in place.
        if !self.removed.get() {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}
