//! A command started by `pidward run` or `pidward lock` from a parent that ignores every
//! signal, glibc's two internal ones (32 and 33) included: `run` gives it every disposition at
//! `SIG_DFL`; `lock` keeps the application signals ignored (as flock(1) and `nohup` want) but
//! never glibc's internal ones.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Bits 31 and 32: signals 32 and 33.
const GLIBC_INTERNAL: u64 = (1 << 31) | (1 << 32);

/// `SigIgn` of `grep` started by `pidward ARGS -- grep ...`, run from a process that ignores
/// every signal but KILL and STOP (set with raw rt_sigaction, which glibc's sigaction refuses
/// for 32 and 33).
fn sig_ign_under(args: &[&str]) -> u64 {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pidward"));
    cmd.args(args)
        .args(["--", "grep", "^SigIgn:", "/proc/self/status"]);
    // SAFETY: the hook only makes rt_sigaction(2) system calls on a stack value.
    unsafe {
        cmd.pre_exec(|| {
            let ign: [u64; 4] = [libc::SIG_IGN as u64, 0, 0, 0];
            for signo in 1..=64 {
                if signo != libc::SIGKILL && signo != libc::SIGSTOP {
                    libc::syscall(
                        libc::SYS_rt_sigaction,
                        signo,
                        ign.as_ptr(),
                        std::ptr::null_mut::<u64>(),
                        8usize,
                    );
                }
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value = text
        .trim()
        .strip_prefix("SigIgn:")
        .unwrap_or_else(|| panic!("{text}"));
    u64::from_str_radix(value.trim(), 16).unwrap()
}

#[test]
fn run_starts_the_command_with_nothing_ignored() {
    assert_eq!(sig_ign_under(&["run"]), 0);
}

#[test]
fn lock_keeps_ignored_application_signals_but_not_glibcs_own() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lock");
    let ign = sig_ign_under(&["lock", file.to_str().unwrap()]);
    assert_eq!(ign & GLIBC_INTERNAL, 0, "{ign:#x}");
    let hup_int = (1u64 << (libc::SIGHUP - 1)) | (1 << (libc::SIGINT - 1));
    assert_eq!(ign & hup_int, hup_int, "{ign:#x}");
}
