//! [`Plan`]: a [`Setup`] resolved, opened and laid out in memory, ready to apply.
//!
//! Everything that allocates or can fail for a reason other than the system call itself
//! happens here, in the caller: user and group look-ups, opening output files, paths as
//! `CString`s, the list of descriptor moves (with every source that could be clobbered by an
//! earlier move lifted above all targets with `F_DUPFD_CLOEXEC`, so the moves can run in any
//! order), the descriptors to keep, and the text of every failure detail. The child side
//! ([`apply`](super::apply)) only reads these values.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::rlimit::Rlimit;
use super::setup::Session;
use super::stdio::{Kind, Source};
use super::{Error, Setup, Step};
use crate::privileges::Credentials;
use crate::sys::sigaction::Dispositions;

/// One descriptor move: `source` becomes `target` in the child.
#[derive(Debug, Clone, Copy)]
pub(super) struct Move {
    pub(super) source: RawFd,
    pub(super) target: RawFd,
    pub(super) step: Step,
}

/// Which inherited descriptors the child closes: every one from `low` up that is not kept.
#[derive(Debug)]
pub(super) struct Close {
    pub(super) low: u32,
    pub(super) keep: Vec<RawFd>,
}

/// The privilege drop, resolved.
#[derive(Debug)]
pub(super) struct Switch {
    pub(super) groups: Option<Vec<libc::gid_t>>,
    /// (real, effective, saved); `u32::MAX` (-1) leaves an id as it is.
    pub(super) gid: Option<[u32; 3]>,
    pub(super) uid: Option<[u32; 3]>,
    /// After the drop, `setuid(0)` must fail.
    pub(super) check_uid: bool,
    /// After the drop, `setgid(0)` must fail.
    pub(super) check_gid: bool,
}

/// A [`Setup`] with everything resolved and opened, ready to apply after fork or clone.
#[derive(Debug)]
pub struct Plan {
    pub(super) moves: Vec<Move>,
    details: Vec<Vec<u8>>,
    owned: Vec<OwnedFd>,
    pub(super) close: Option<Close>,
    pub(super) rlimits: Vec<Rlimit>,
    pub(super) umask: Option<u32>,
    pub(super) chroot: Option<CString>,
    pub(super) chdir: Option<CString>,
    credentials: Option<Credentials>,
    pub(super) switch: Option<Switch>,
    cred_detail: Vec<u8>,
    pub(super) session: Session,
    /// Signals whose disposition the child leaves as it is (bit N-1 for signal N): the ignored
    /// ones it keeps, and, when the caller's dispositions are known, those at `SIG_DFL`.
    pub(super) keep_signals: u64,
    /// The caller is single-threaded and changes nothing before the spawn (it handed over its
    /// dispositions): the child may be given this process's own `environ` as it is.
    pub(super) single_threaded: bool,
    /// `PR_SET_PDEATHSIG`: the signal, and the PID of the parent it watches.
    pub(super) parent_death: Option<(i32, i32)>,
    /// The `cgroup.procs` file to join, and its path (the failure's detail).
    pub(super) cgroup: Option<(OwnedFd, Vec<u8>)>,
    /// The cgroup's directory, to start the child in it (`clone3(CLONE_INTO_CGROUP)`), and
    /// the path of its `cgroup.procs` (the failure's detail).
    pub(super) cgroup_dir: Option<(OwnedFd, Vec<u8>)>,
    /// That `cgroup.procs`, opened by [`spawn`](super::spawn) only where `clone3` refused:
    /// the child then joins by writing to it. Set in the caller before the `clone`; read in
    /// the child (an atomic load: async-signal-safe).
    pub(super) cgroup_late: std::sync::OnceLock<OwnedFd>,
}

/// A failed step of [`apply`](super::apply): the step, `errno`, and which item of the step
/// (move, limit, signal number). Plain data: written by the child, read by the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) step: Step,
    pub(crate) errno: i32,
    pub(crate) index: u32,
}

impl Plan {
    pub(super) fn new(setup: Setup) -> Result<Plan, Error> {
        let setup = setup.into_parts();
        let credentials = match setup.credentials {
            Some(c) => Some(c.effective_only(setup.effective_only)),
            None if setup.user.is_some() || setup.group.is_some() => Some(
                Credentials::resolve(setup.user.as_deref(), setup.group.as_deref())
                    .map_err(|e| Error::new(Step::User, 0, e.to_string()))?
                    .effective_only(setup.effective_only),
            ),
            None => None,
        };
        let mut plan = Plan {
            moves: Vec::new(),
            details: Vec::new(),
            owned: Vec::new(),
            close: None,
            rlimits: setup.rlimits,
            umask: setup.umask,
            chroot: setup
                .chroot
                .as_deref()
                .map(|p| cstring(Step::Chroot, p))
                .transpose()?,
            chdir: (setup.working_directory.as_deref())
                .map(|p| cstring(Step::Chdir, p))
                .transpose()?,
            switch: credentials.as_ref().and_then(resolve_switch),
            cred_detail: credentials.as_ref().map(cred_detail).unwrap_or_default(),
            credentials,
            session: setup.session,
            keep_signals: keep_signals(setup.keep_ignored, setup.dispositions),
            single_threaded: setup.dispositions.is_some(),
            parent_death: (setup.parent_death)
                .map(|s| (s.as_raw(), rustix::process::getpid().as_raw_nonzero().get())),
            cgroup: (setup.cgroup).map(|(fd, path)| (fd, path.as_os_str().as_bytes().to_vec())),
            cgroup_dir: (setup.cgroup_dir)
                .map(|(fd, procs)| (fd, procs.as_os_str().as_bytes().to_vec())),
            cgroup_late: std::sync::OnceLock::new(),
        };
        plan.add_moves(setup.stdio, setup.fds)?;
        let targets = plan.moves.iter().map(|m| m.target);
        if setup.close_unmapped {
            plan.close = Some(Close {
                low: 0,
                keep: targets.collect(),
            });
        } else if setup.close_fds {
            let mut keep = setup.keep_fds;
            keep.extend(targets);
            plan.close = Some(Close { low: 3, keep });
        }
        Ok(plan)
    }

    /// Opens the standard streams and lays out every move, lifting sources that an earlier
    /// move could overwrite above the highest target.
    fn add_moves(
        &mut self,
        stdio: [Option<super::Stdio>; 3],
        fds: Vec<(RawFd, Source)>,
    ) -> Result<(), Error> {
        let mut floor: RawFd = 3;
        for (target, _) in &fds {
            floor = floor.max(target + 1);
        }
        let mut pending: Vec<(RawFd, RawFd, Step, Vec<u8>)> = Vec::new();
        for (i, (stream, step)) in stdio
            .into_iter()
            .zip([Step::Stdin, Step::Stdout, Step::Stderr])
            .enumerate()
        {
            let Some(stream) = stream else { continue };
            let detail = stream
                .path()
                .map_or(b"/dev/null".to_vec(), |p| p.as_os_str().as_bytes().to_vec());
            let fd: OwnedFd = match stream.0 {
                Kind::Inherit => continue,
                Kind::Null => open_null().map_err(|e| Error::from_io(step, &e, "/dev/null"))?,
                Kind::Append { path, mode } => open_append(&path, mode)
                    .map_err(|e| Error::from_io(step, &e, path.display().to_string()))?
                    .into(),
                Kind::Fd(fd) => fd,
            };
            pending.push((fd.as_raw_fd(), i as RawFd, step, detail));
            self.owned.push(fd);
        }
        for (target, source) in fds {
            if target < 0 {
                return Err(Error::new(Step::Fd, libc::EBADF, target.to_string()));
            }
            let raw = match source {
                Source::Owned(fd) => {
                    let raw = fd.as_raw_fd();
                    self.owned.push(fd);
                    raw
                }
                Source::Borrowed(raw) => raw,
            };
            pending.push((raw, target, Step::Fd, target.to_string().into_bytes()));
        }
        for (source, target, step, detail) in pending {
            let source = if source != target && source < floor {
                let lifted = rustix::io::fcntl_dupfd_cloexec(
                    // SAFETY: `source` is open for the duration of this call: owned by this
                    // plan, or borrowed from a caller that keeps it open.
                    unsafe { std::os::fd::BorrowedFd::borrow_raw(source) },
                    floor,
                )
                .map_err(|e| Error::from_io(step, &e.into(), String::from_utf8_lossy(&detail)))?;
                let raw = lifted.as_raw_fd();
                self.owned.push(lifted);
                raw
            } else {
                source
            };
            self.moves.push(Move {
                source,
                target,
                step,
            });
            self.details.push(detail);
        }
        Ok(())
    }

    /// The credentials that will be switched to, if any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Also keep `fd` open when inherited descriptors are closed.
    pub(crate) fn keep(&mut self, fd: RawFd) {
        if let Some(close) = &mut self.close {
            close.keep.push(fd);
        }
    }

    /// The lowest descriptor number above every descriptor this plan installs or owns: where
    /// a caller puts a descriptor that must survive the moves.
    pub(crate) fn fd_floor(&self) -> RawFd {
        let owned = self.owned.iter().map(AsRawFd::as_raw_fd);
        let moved = self.moves.iter().flat_map(|m| [m.source, m.target]);
        owned.chain(moved).max().map_or(3, |m| m + 1).max(3)
    }

    /// The prepared detail of a failure, as bytes (async-signal-safe: no allocation).
    pub(crate) fn detail(&self, failure: &Failure) -> &[u8] {
        let index = failure.index as usize;
        match failure.step {
            Step::Stdin | Step::Stdout | Step::Stderr | Step::Fd => {
                self.details.get(index).map_or(&[][..], Vec::as_slice)
            }
            Step::Chroot => self.chroot.as_ref().map_or(&[][..], |p| p.as_bytes()),
            Step::Chdir if index == 1 => b"/",
            Step::Chdir => self.chdir.as_ref().map_or(&[][..], |p| p.as_bytes()),
            Step::Rlimit => self
                .rlimits
                .get(index)
                .map_or(&[][..], |l| l.resource().name().as_bytes()),
            Step::Setgroups | Step::Setgid | Step::Setuid | Step::RegainRoot => &self.cred_detail,
            Step::Cgroup => match (&self.cgroup, &self.cgroup_dir) {
                (Some((_, path)), _) | (None, Some((_, path))) => path.as_slice(),
                (None, None) => &[][..],
            },
            _ => b"",
        }
    }

    /// A failure as an [`Error`], with its detail.
    pub(crate) fn error(&self, failure: &Failure) -> Error {
        let detail = match failure.step {
            Step::Signals | Step::ProcessGroup | Step::ParentDeath => failure.index.to_string(),
            _ => String::from_utf8_lossy(self.detail(failure)).into_owned(),
        };
        Error::new(failure.step, failure.errno, detail)
    }

    /// Called after [`apply`](super::apply) ran in this process: the prepared descriptors
    /// were installed, and closed by the close-fds step if it ran, in which case their numbers
    /// may already be reused and must not be closed again.
    pub(crate) fn finish(mut self) {
        if self.close.is_some() {
            for fd in std::mem::take(&mut self.owned) {
                std::mem::forget(fd);
            }
        }
    }
}

/// `path` as a C string, or `EINVAL` naming it.
fn cstring(step: Step, path: &Path) -> Result<CString, Error> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::new(step, libc::EINVAL, path.display().to_string()))
}

/// The raw ids of a privilege drop, and which regain-root checks apply.
fn resolve_switch(creds: &Credentials) -> Option<Switch> {
    if creds.is_noop() {
        return None;
    }
    let keep = u32::MAX;
    let ids = |id: u32| {
        if creds.is_effective_only() {
            [keep, id, keep]
        } else {
            [id; 3]
        }
    };
    let check_uid = !creds.is_effective_only() && creds.uid().is_some_and(|u| u != 0);
    // The group ids after the drop: the target's, or the caller's when unchanged. Only a
    // process that holds no gid 0 any more can be checked for regaining it.
    let check_gid = check_uid
        && match creds.gid() {
            Some(gid) => gid != 0,
            None => {
                let (r, e, s) = nix::unistd::getresgid().map_or((0, 0, 0), |ids| {
                    (
                        ids.real.as_raw(),
                        ids.effective.as_raw(),
                        ids.saved.as_raw(),
                    )
                });
                r != 0 && e != 0 && s != 0
            }
        };
    Some(Switch {
        groups: creds.groups().map(<[u32]>::to_vec),
        gid: creds.gid().map(ids),
        uid: creds.uid().map(ids),
        check_uid,
        check_gid,
    })
}

fn cred_detail(creds: &Credentials) -> Vec<u8> {
    let show = |v: Option<u32>| v.map_or("-".to_owned(), |v| v.to_string());
    format!("uid {} gid {}", show(creds.uid()), show(creds.gid())).into_bytes()
}

/// The signals whose disposition the child leaves as it is (bit N-1 for signal N). With
/// `keep_ignored`, those this process ignores: glibc's two internal signals (below
/// `SIGRTMIN`) are not application signals and are reset either way, and so is `SIGPIPE`, as
/// std does (the Rust runtime ignores it in every program, so an ignored `SIGPIPE` says nothing
/// about what the caller wants). With `known` dispositions, also the signals at `SIG_DFL`.
fn keep_signals(keep_ignored: bool, known: Option<Dispositions>) -> u64 {
    let ignored = if !keep_ignored {
        0
    } else if let Some(d) = known {
        d.ignored as u64
    } else {
        crate::sys::sigaction::ignored()
            .into_iter()
            .filter(|&s| (1..=64).contains(&s))
            .fold(0, |mask, s| mask | 1 << (s - 1))
    };
    let not_application = (1 << (32 - 1)) | (1 << (33 - 1)) | (1 << (libc::SIGPIPE - 1));
    let at_default = known.map_or(0, |d| d.at_default() as u64);
    (ignored & !not_application) | at_default
}

/// `/dev/null`, read-write, close-on-exec, never a controlling terminal.
fn open_null() -> io::Result<OwnedFd> {
    let file = File::options()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY)
        .open("/dev/null")?;
    Ok(file.into())
}

/// Opens `path` for appending; creates it with exactly `mode` if it is missing.
///
/// `open(2)` with `O_CREAT | O_EXCL` first, so that the mode (set with `fchmod(2)`, past the
/// umask) is only ever applied to a file this call created.
fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    let mut opts = File::options();
    opts.append(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC);
    match opts.clone().create_new(true).mode(mode).open(path) {
        Ok(file) => {
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => opts.open(path),
        Err(e) => Err(e),
    }
}
