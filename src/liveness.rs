//! Is process N alive, and is it still the process that a PID file meant?
//!
//! Liveness is decided in this order, strongest evidence first:
//!
//! 1. **The lock.** A file locked with flock(2) has a live holder; that is decided by
//!    [`crate::flock`], not here.
//! 2. **`kill(pid, 0)`.** `ESRCH` means no such process; `EPERM` means a process exists that we
//!    may not signal, which is *alive* (reading EPERM as "dead" is a classic PID-file bug).
//! 3. **Zombies are dead.** A process that has exited but not been reaped still answers
//!    `kill(pid, 0)`; its state in `/proc/PID/stat` is `Z`.
//! 4. **Start time.** A process that started after a PID file was last written cannot be the
//!    one that wrote it: the PID was reused. Start times come from `/proc/PID/stat` (clock
//!    ticks since boot) and are compared on the boot clock, so wall-clock jumps do not matter.
//!
//! [`ProcessInfo`] reads what `status` reports about a process: state, parent, start time
//! and command line.

use std::io;
use std::time::{Duration, SystemTime};

use crate::sys;

/// What `kill(pid, 0)` and `/proc` say about a PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// A live process we may signal.
    Alive,
    /// A live process owned by someone else (`EPERM`): alive all the same.
    AliveNotPermitted,
    /// Exited but not yet reaped by its parent: dead for every purpose here.
    Zombie,
    /// No such process (`ESRCH`).
    Dead,
}

impl Probe {
    /// Whether the process is alive (running, sleeping or stopped; not a zombie).
    pub fn is_alive(self) -> bool {
        matches!(self, Probe::Alive | Probe::AliveNotPermitted)
    }
}

/// Whether a process (a zombie too) has `pid`: `kill(pid, 0)` succeeds or says `EPERM`.
pub(crate) fn exists(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) with signal 0 performs only the existence and permission checks.
    raw > 0
        && (unsafe { libc::kill(raw, 0) } == 0
            || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// The most `pid_max` can be (the kernel's `PID_MAX_LIMIT` on 64-bit systems, 2^22).
pub(crate) const PID_MAX_LIMIT: u32 = 4_194_304;

/// `kill(pid, 0)` plus the zombie check of `/proc/PID/stat`.
///
/// ```
/// use pidward::liveness::{probe, Probe};
/// assert_eq!(probe(std::process::id()), Probe::Alive);
/// ```
pub fn probe(pid: u32) -> Probe {
    probe_started(pid).0
}

/// [`probe`], and for a process that is not dead or a zombie, when it started (on the boot
/// clock), from the same read of `/proc/PID/stat`: `Err` when `/proc` cannot say (not
/// mounted, `hidepid`, the process gone since). One read where a probe followed by
/// [`ProcessInfo::of`] makes two and a `cmdline` as well: what deciding whether a PID was
/// reused needs (rule 4), and a consistent answer (a process cannot become a zombie between
/// the two).
pub(crate) fn probe_started(pid: u32) -> (Probe, io::Result<Duration>) {
    let gone = || io::Error::from_raw_os_error(libc::ESRCH);
    let Ok(raw) = i32::try_from(pid) else {
        return (Probe::Dead, Err(gone()));
    };
    if raw <= 0 {
        return (Probe::Dead, Err(gone()));
    }
    // SAFETY: kill(2) with signal 0 performs only the existence and permission checks.
    let alive = match unsafe { libc::kill(raw, 0) } {
        0 => Probe::Alive,
        _ => match io::Error::last_os_error().raw_os_error() {
            Some(libc::EPERM) => Probe::AliveNotPermitted,
            _ => return (Probe::Dead, Err(gone())),
        },
    };
    match sys::proc_stat::read(raw) {
        Ok(stat) if stat.state == b'Z' || stat.state == b'X' => (Probe::Zombie, Err(gone())),
        Ok(stat) => (alive, Ok(since_boot(stat.start_time))),
        Err(e) => (alive, Err(e)),
    }
}

/// A start time of `/proc/PID/stat` (clock ticks since boot) as a duration since boot.
fn since_boot(ticks: u64) -> Duration {
    let hz = clock_ticks_per_second();
    Duration::from_secs(ticks / hz) + Duration::from_nanos((ticks % hz) * 1_000_000_000 / hz)
}

/// Whether a process that started `started_since_boot` started after `when` (a wall-clock
/// time such as a file's mtime): see [`ProcessInfo::started_after`].
pub(crate) fn started_after(started_since_boot: Duration, when: SystemTime) -> bool {
    const SLACK: Duration = Duration::from_millis(20);
    let Ok(when_since_boot) = when.duration_since(boot_time()) else {
        // Written before this boot: every current process started after it.
        return true;
    };
    started_since_boot > when_since_boot + SLACK
}

/// What `/proc/PID` says about a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// The process ID.
    pub pid: u32,
    /// The parent's process ID.
    pub ppid: u32,
    /// The one-letter state of `/proc/PID/stat`: `R`, `S`, `D`, `T`, `Z`...
    pub state: char,
    /// When the process started, on the boot clock (`CLOCK_BOOTTIME`).
    pub started_since_boot: Duration,
    /// The command line, one entry per argument (lossy UTF-8); for kernel threads and
    /// zombies, whose command line is empty, the command name in brackets.
    pub cmdline: Vec<String>,
}

impl ProcessInfo {
    /// Read `/proc/PID/stat` and `/proc/PID/cmdline` (`/proc/PID/comm` too when the command
    /// line is empty).
    pub fn of(pid: u32) -> io::Result<ProcessInfo> {
        let raw_pid = i32::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
        let stat = sys::proc_stat::read(raw_pid)?;
        let ppid = u32::try_from(stat.ppid).map_err(|_| bad_proc(pid, "stat"))?;
        let started_since_boot = since_boot(stat.start_time);
        let raw = sys::proc_file::read_short(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let mut cmdline: Vec<String> = raw
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if raw.last() == Some(&0) {
            cmdline.pop();
        }
        if raw.is_empty() {
            // Kernel threads and zombies: the command name, as ps(1) shows it.
            let comm = sys::proc_file::read_short(format!("/proc/{pid}/comm")).unwrap_or_default();
            let comm = String::from_utf8_lossy(comm.strip_suffix(b"\n").unwrap_or(&comm));
            cmdline = vec![format!("[{comm}]")];
        }
        Ok(ProcessInfo {
            pid,
            ppid,
            state: char::from(stat.state),
            started_since_boot,
            cmdline,
        })
    }

    /// When the process started, on the wall clock (to the clock tick, 10 ms).
    pub fn start_time(&self) -> SystemTime {
        boot_time() + self.started_since_boot
    }

    /// How long the process has been running.
    pub fn uptime(&self) -> Duration {
        now_since_boot().saturating_sub(self.started_since_boot)
    }

    /// Whether this process started after `when` (a wall-clock time such as a file's mtime),
    /// allowing for the coarse granularity of both clocks: the process start time is counted
    /// in clock ticks (10 ms) and file times in kernel jiffies (up to 10 ms).
    pub fn started_after(&self, when: SystemTime) -> bool {
        started_after(self.started_since_boot, when)
    }

    /// The command line joined with spaces, for messages.
    pub fn command_line(&self) -> String {
        self.cmdline.join(" ")
    }
}

fn bad_proc(pid: u32, file: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("cannot parse /proc/{pid}/{file}"),
    )
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as u64 } else { 100 }
}

/// `clock_gettime(CLOCK_BOOTTIME)`: time since boot, suspend included, as /proc counts it.
///
/// The C library's, which answers from the vDSO it has already found; rustix's would first
/// look the vDSO up itself (a `prctl(PR_GET_AUXV)` and a walk of its symbol table), once per
/// process, for a `status` that asks once.
fn now_since_boot() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime(2) writes the timespec we own; CLOCK_BOOTTIME exists since 2.6.39.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The wall-clock time of boot, to the nanosecond of this computation (unlike `btime` in
/// `/proc/stat`, which is whole seconds).
fn boot_time() -> SystemTime {
    SystemTime::now() - now_since_boot()
}

/// The highest PID the kernel hands out (`/proc/sys/kernel/pid_max`, else the 2^22 limit).
pub fn pid_max() -> u32 {
    sys::proc_file::read_short_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(PID_MAX_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_described() {
        let me = std::process::id();
        assert_eq!(probe(me), Probe::Alive);
        let info = ProcessInfo::of(me).unwrap();
        assert_eq!(info.pid, me);
        assert_eq!(info.ppid, std::os::unix::process::parent_id());
        assert!(info.uptime() < Duration::from_secs(3600));
        assert!(!info.started_after(SystemTime::now()));
        assert!(info.started_after(SystemTime::now() - Duration::from_secs(86400 * 365)));
    }

    #[test]
    fn absent_pid_is_dead() {
        assert_eq!(probe(pid_max() + 1), Probe::Dead);
        assert_eq!(probe(0), Probe::Dead);
        assert_eq!(probe(u32::MAX), Probe::Dead);
    }
}
