//! The one piece of code that runs between `fork`/`clone` and `execve` in pidward.
//!
//! # Why this is safe
//!
//! [`Plan::apply`] and [`exec`] run in a child that was created in one of three ways:
//!
//! * by [`spawn`](super::spawn): `clone(CLONE_VM | CLONE_VFORK)`. The child shares the
//!   parent's memory (heap, allocator state, the C library's thread list and locks) while the
//!   parent thread is suspended until the child execs or exits; other parent threads keep
//!   running;
//! * by `fork(2)` in a single-threaded [`Daemon`](crate::daemon::Daemon);
//! * not at all: a [`Daemon`](crate::daemon::Daemon) that does not detach applies the plan to
//!   itself (and refuses to switch credentials when it is not single-threaded).
//!
//! In all three the code below therefore holds to one rule: **it only reads the [`Plan`] and
//! the [`Program`] that the parent built, and makes system calls on those values**. No
//! allocation, no lock, no formatting, no panic path, no thread-local of its own, no write to
//! memory but its own stack and `errno`. Every call is either a raw `syscall(2)` or a C
//! library function that is a thin wrapper around one system call (`dup2`, `fcntl`, `setsid`,
//! `setpgid`, `umask`, `chroot`, `chdir`, `prctl`, `getppid`, `getpid`, `kill`, `write`,
//! `execve`), or
//! one of the async-signal-safe
//! wrappers of [`crate::sys`] (`errno`, `close_from`, `sigaction::reset_raw`), which
//! async-signal-safety (`signal-safety(7)`) allows; the pointers passed are to the plan's own
//! `CString`s and vectors, which outlive the call because the parent either waits
//! (`CLONE_VFORK`) or owns a copy (`fork`).
//!
//! Two calls are made raw on purpose:
//!
//! * **credentials** (`setgroups`, `setresgid`, `setresuid`, and the `setuid(0)`/`setgid(0)`
//!   probes): the C library's wrappers broadcast an id change to every thread of the process
//!   (glibc's `SIGSETXID`), walking a thread list that, under `CLONE_VM`, is the *parent's*;
//!   a raw call changes exactly the calling thread, which is the whole child;
//! * **signal dispositions** (`rt_sigaction`): glibc's `sigaction` refuses its two internal
//!   signals (32 and 33), which a parent may still have ignored, and a `SIG_IGN` inherited
//!   from the parent would otherwise survive `execve`.
//!
//! `errno` is read right after each failed call; under `CLONE_VM` it is the suspended parent
//! thread's slot, whose value no longer matters to it once `clone` has returned.
//!
//! A failure is reported as plain data ([`Failure`]: a step, an errno, an index), which the
//! caller stores in shared memory or writes to a pipe; its detail text was prepared before
//! (see [`Plan::detail`]).

use std::ffi::c_long;
use std::os::fd::AsRawFd;
use std::ptr;
use std::sync::atomic::Ordering;

use super::Step;
use super::exec::Program;
use super::plan::{Failure, Plan};
use super::setup::Session;
use crate::sys::{self, errno};

/// Where the plan is being applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// To the calling process, which goes on running (a daemon): close inherited descriptors.
    InPlace,
    /// In a child of [`spawn`](super::spawn): also reset every signal disposition.
    Spawn,
    /// As [`Mode::Spawn`], in a child that `clone3(CLONE_INTO_CGROUP)` made in the plan's
    /// cgroup already: nothing to write to `cgroup.procs`.
    SpawnInCgroup,
}

/// Raw system call numbers for the credential calls (32-bit ids on the old 32-bit ABIs).
#[cfg(any(target_arch = "x86", target_arch = "arm"))]
mod nr {
    pub const SETGROUPS: libc::c_long = libc::SYS_setgroups32;
    pub const SETRESGID: libc::c_long = libc::SYS_setresgid32;
    pub const SETRESUID: libc::c_long = libc::SYS_setresuid32;
    pub const SETUID: libc::c_long = libc::SYS_setuid32;
    pub const SETGID: libc::c_long = libc::SYS_setgid32;
}
#[cfg(not(any(target_arch = "x86", target_arch = "arm")))]
mod nr {
    pub const SETGROUPS: libc::c_long = libc::SYS_setgroups;
    pub const SETRESGID: libc::c_long = libc::SYS_setresgid;
    pub const SETRESUID: libc::c_long = libc::SYS_setresuid;
    pub const SETUID: libc::c_long = libc::SYS_setuid;
    pub const SETGID: libc::c_long = libc::SYS_setgid;
}

/// `Err` with `errno` unless `ret` is 0 (or positive).
fn check(ret: c_long, step: Step, index: u32) -> Result<(), Failure> {
    if ret < 0 {
        Err(Failure {
            step,
            errno: errno(),
            index,
        })
    } else {
        Ok(())
    }
}

// Every `unsafe` block below is a system call on values of the plan; the argument for all
// of them is the module header's, made once.
#[allow(clippy::undocumented_unsafe_blocks)]
impl Plan {
    /// Applies the steps in the order of [`Setup`](super::Setup)'s documentation; returns the
    /// first failure. Async-signal-safe (see the module header).
    pub(crate) fn apply(&self, mode: Mode) -> Result<(), Failure> {
        if mode != Mode::InPlace {
            self.reset_signals()?;
        }
        // The caller's `cgroup.procs`, or the one `spawn` opened where `clone3` refused.
        let procs = match &self.cgroup {
            Some((procs, _)) => Some(procs),
            None => self.cgroup_late.get(),
        };
        if let Some(procs) = procs.filter(|_| mode != Mode::SpawnInCgroup) {
            // First, with the caller's privileges: "0" moves the writing process, so nothing
            // is formatted here; what the child forks from now on is born in the cgroup.
            // SAFETY: write(2) is async-signal-safe; the descriptor was opened before the
            // fork and is owned by the plan, the buffer is a static string.
            let ret = unsafe { libc::write(procs.as_raw_fd(), c"0".as_ptr().cast(), 1) };
            check(ret as c_long, Step::Cgroup, 0)?;
        }
        match self.session {
            Session::Inherit => {}
            Session::New => check(unsafe { libc::setsid() }.into(), Step::Setsid, 0)?,
            Session::Group(pgid) => check(
                unsafe { libc::setpgid(0, pgid) }.into(),
                Step::ProcessGroup,
                pgid as u32,
            )?,
        }
        for (i, m) in self.moves.iter().enumerate() {
            // dup2 leaves the target without FD_CLOEXEC; a descriptor already at its number
            // only needs the flag cleared.
            let ret = if m.source == m.target {
                unsafe { libc::fcntl(m.target, libc::F_SETFD, 0) }
            } else {
                unsafe { libc::dup2(m.source, m.target) }
            };
            check(ret.into(), m.step, i as u32)?;
        }
        if let Some(close) = &self.close {
            sys::close_from(close.low, &close.keep, false).map_err(|errno| Failure {
                step: Step::CloseFds,
                errno,
                index: 0,
            })?;
        }
        for (i, limit) in self.rlimits.iter().enumerate() {
            let (resource, values) = limit.as_raw();
            let ret = unsafe {
                libc::syscall(
                    libc::SYS_prlimit64,
                    0,
                    resource,
                    values.as_ptr(),
                    ptr::null_mut::<u64>(),
                )
            };
            check(ret, Step::Rlimit, i as u32)?;
        }
        if let Some(mask) = self.umask {
            unsafe { libc::umask(mask as libc::mode_t) };
        }
        if let Some(root) = &self.chroot {
            check(
                unsafe { libc::chroot(root.as_ptr()) }.into(),
                Step::Chroot,
                0,
            )?;
            check(unsafe { libc::chdir(c"/".as_ptr()) }.into(), Step::Chdir, 1)?;
        }
        if let Some(dir) = &self.chdir {
            check(unsafe { libc::chdir(dir.as_ptr()) }.into(), Step::Chdir, 0)?;
        }
        self.switch_ids()?;
        if let Some((signo, parent)) = self.parent_death {
            // After the switch, which clears the setting.
            let ret = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signo as libc::c_ulong) };
            check(ret.into(), Step::ParentDeath, signo as u32)?;
            // The parent may have died before the setting took effect.
            if unsafe { libc::getppid() } != parent {
                unsafe { libc::kill(libc::getpid(), signo) };
            }
        }
        Ok(())
    }

    /// Every signal disposition to `SIG_DFL`, except those the plan keeps (the ignored ones it
    /// keeps, and those known to be at `SIG_DFL` already). All signals are blocked meanwhile
    /// (the parent blocked them around `clone`).
    fn reset_signals(&self) -> Result<(), Failure> {
        sys::sigaction::reset_raw(u128::from(self.keep_signals)).map_err(|(signo, errno)| Failure {
            step: Step::Signals,
            errno,
            index: signo as u32,
        })
    }

    /// `setgroups` → `setresgid` → `setresuid` → `setuid(0)` and `setgid(0)` must fail.
    fn switch_ids(&self) -> Result<(), Failure> {
        let Some(switch) = &self.switch else {
            return Ok(());
        };
        if let Some(groups) = &switch.groups {
            let ret = unsafe { libc::syscall(nr::SETGROUPS, groups.len(), groups.as_ptr()) };
            check(ret, Step::Setgroups, 0)?;
        }
        if let Some([r, e, s]) = switch.gid {
            check(
                unsafe { libc::syscall(nr::SETRESGID, r, e, s) },
                Step::Setgid,
                0,
            )?;
        }
        if let Some([r, e, s]) = switch.uid {
            check(
                unsafe { libc::syscall(nr::SETRESUID, r, e, s) },
                Step::Setuid,
                0,
            )?;
        }
        let regained = (switch.check_uid && unsafe { libc::syscall(nr::SETUID, 0) } == 0)
            || (switch.check_gid && unsafe { libc::syscall(nr::SETGID, 0) } == 0);
        if regained {
            return Err(Failure {
                step: Step::RegainRoot,
                errno: 0,
                index: 0,
            });
        }
        Ok(())
    }
}

/// Empties the signal mask, then `execve(2)`s each candidate path in turn, as `execvp(3)`
/// does: skip "not there", remember "not allowed", stop at any other error (a real file that
/// cannot be executed). Returns only on failure. A signal that arrived while everything was
/// blocked is delivered now, with its default action, as it would be in the new program.
#[allow(clippy::undocumented_unsafe_blocks)] // see the module header
pub(crate) fn exec(program: &Program) -> Failure {
    if let Err(failure) = empty_mask() {
        return failure;
    }
    let mut saw_eacces = false;
    let mut last = libc::ENOENT;
    for &path in program.candidates() {
        unsafe { libc::execve(path, program.argv(), program.envp()) };
        last = errno();
        match last {
            libc::EACCES => saw_eacces = true,
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
            errno => {
                return Failure {
                    step: Step::Exec,
                    errno,
                    index: 0,
                };
            }
        }
    }
    Failure {
        step: Step::Exec,
        errno: if saw_eacces { libc::EACCES } else { last },
        index: 0,
    }
}

/// `rt_sigprocmask(SIG_SETMASK, {})`: nothing blocked.
#[allow(clippy::undocumented_unsafe_blocks)] // see the module header
fn empty_mask() -> Result<(), Failure> {
    let empty = [0u64; 1];
    let ret = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            empty.as_ptr(),
            ptr::null_mut::<u64>(),
            8usize,
        )
    };
    check(ret, Step::Signals, 0)
}

/// What a `CLONE_VM` child reads and reports through: it lives on the stack of the parent
/// thread, which is suspended until the child has exec'd or exited.
pub(super) struct Shared<'a> {
    pub(super) plan: &'a Plan,
    pub(super) program: &'a Program,
    /// The failed step ([`Step::code`]), or 0 while nothing failed.
    pub(super) step: std::sync::atomic::AtomicU32,
    pub(super) errno: std::sync::atomic::AtomicI32,
    pub(super) index: std::sync::atomic::AtomicU32,
    /// Set by the parent before a `clone3(CLONE_INTO_CGROUP)`: the child is born in the cgroup.
    pub(super) in_cgroup: std::sync::atomic::AtomicBool,
}

/// The child's entry point under `clone(2)`: apply, exec, and on failure store the report
/// and `_exit(127)` (never returning into the parent's frames).
pub(super) extern "C" fn entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Shared` the suspended parent passed to clone; it outlives us.
    let shared = unsafe { &*(arg as *const Shared<'_>) };
    let mode = if shared.in_cgroup.load(Ordering::SeqCst) {
        Mode::SpawnInCgroup
    } else {
        Mode::Spawn
    };
    let failure = match shared.plan.apply(mode) {
        Ok(()) => exec(shared.program),
        Err(failure) => failure,
    };
    shared.index.store(failure.index, Ordering::SeqCst);
    shared.errno.store(failure.errno, Ordering::SeqCst);
    shared.step.store(failure.step.code(), Ordering::SeqCst);
    // SAFETY: _exit(2) ends the child without atexit handlers or flushing the parent's stdio
    // buffers, which we share.
    unsafe { libc::_exit(127) }
}
