//! `clone3(2)` with `CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_INTO_CGROUP`: the child is
//! born in its cgroup instead of moving itself there.
//!
//! A process that writes to `cgroup.procs` migrates, and a migration takes the kernel's
//! `cgroup_threadgroup_rwsem` for writing, which waits for an RCU grace period so that no
//! fork or exit anywhere is in the middle of reading it (traced with `perf trace`, that write
//! was the slowest system call of a whole `pidward run -- /bin/true`: docs/benchmarks.md). A
//! child made in the cgroup by `clone3` takes the same lock for reading only, as every fork
//! does.
//!
//! The C library has no `clone3` wrapper that runs a function on a new stack (glibc's is
//! internal), and a `CLONE_VM` child cannot return from the system call into the caller's
//! frames: it would run on the suspended parent's stack. So the call is a few instructions
//! of inline assembly, as in glibc's own `clone3.S`: the system call, and in the child
//! (return value 0, on the stack given in `clone_args`) a call of the entry function with
//! its argument, then `exit(2)` should it return. Only x86_64 has it for now; elsewhere, and
//! where the kernel refuses (`ENOSYS` before Linux 5.3, `EINVAL` or `E2BIG` without
//! `CLONE_INTO_CGROUP` before 5.7, a cgroup it cannot start a process in), the caller falls
//! back to `clone(2)` and the child's write.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// The kernel's `struct clone_args` up to `cgroup` (`CLONE_ARGS_SIZE_VER2`, 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` (Linux 5.7), not in every libc's headers.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Whether this architecture has the assembly of [`clone3_vm`].
pub(super) const AVAILABLE: bool = cfg!(target_arch = "x86_64");

/// `clone3(2)`: a `CLONE_VM | CLONE_VFORK | CLONE_PIDFD` child with `SIGCHLD` as exit signal,
/// made in the cgroup whose directory is `cgroup`, running `entry(arg)` on the stack
/// `[stack, stack + stack_size)`. Returns, once the child has exec'd or exited, its PID and
/// pidfd.
///
/// # Safety
///
/// As for `clone(2)` with `CLONE_VM`: `entry` must not return into anything (it execs or
/// exits), must do only what is safe in a child sharing the caller's memory, and `arg` must
/// outlive the call; every signal must be blocked in the calling thread, so that no handler
/// runs in the child before it has reset them; the stack must be mapped and unused.
pub(super) unsafe fn clone3_vm(
    cgroup: RawFd,
    stack: *mut libc::c_void,
    stack_size: usize,
    entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
) -> io::Result<(libc::pid_t, OwnedFd)> {
    let mut pidfd: libc::c_int = -1;
    let args = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD) as u64 | CLONE_INTO_CGROUP,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack as u64,
        stack_size: stack_size as u64,
        cgroup: cgroup as u64,
        ..CloneArgs::default()
    };
    // SAFETY: the caller's contract; `args` and `pidfd` live until the call returns, which
    // with CLONE_VFORK is after the child has exec'd or exited.
    let ret = unsafe { raw(&args, entry, arg) };
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret as i32));
    }
    // SAFETY: CLONE_PIDFD stored a new CLOEXEC pidfd that nothing else owns.
    Ok((ret as libc::pid_t, unsafe { OwnedFd::from_raw_fd(pidfd) }))
}

/// The system call: in the parent, the child's PID or `-errno`; the child never comes back.
#[cfg(target_arch = "x86_64")]
unsafe fn raw(
    args: &CloneArgs,
    entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
) -> isize {
    let ret: isize;
    // SAFETY: `syscall` clobbers rax (the result), rcx and r11, nothing else; r12 and r13
    // survive it in both processes. The child (rax 0) starts on the top of its own stack,
    // 16-byte aligned as the call needs (the kernel sets rsp to stack + stack_size, both
    // page-aligned), clears the frame pointer so that nothing unwinds into the parent, calls
    // `entry(arg)` and exits with its result; it never reaches the parent's code after the
    // block. The parent jumps over it.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "mov edi, eax",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            "2:",
            exit = const libc::SYS_exit,
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") args as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") arg,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Elsewhere there is no assembly: `ENOSYS`, and the caller uses `clone(2)`.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn raw(
    _: &CloneArgs,
    _: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    _: *mut libc::c_void,
) -> isize {
    -(libc::ENOSYS as isize)
}
