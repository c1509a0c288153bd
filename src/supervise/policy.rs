//! Which ends of a run start a service again: the exit [`Cause`]s, systemd's table of the
//! [`Policy`]s that cover them, and [`ExitSet`], the lists of exit codes and signals that
//! count as success or that prevent a restart.
//!
//! A run ends in one of five ways, as systemd sorts them (`systemd.service(5)`, `Restart=`):
//!
//! | cause | meaning |
//! |---|---|
//! | [`Cause::Clean`] | exit code 0, or death by `HUP`, `INT`, `TERM` or `PIPE`, or a code or signal of the success set |
//! | [`Cause::Code`] | any other exit code (also a start that reported `ERRNO=`) |
//! | [`Cause::Signal`] | death by any other signal |
//! | [`Cause::Timeout`] | readiness not declared in time |
//! | [`Cause::Watchdog`] | the watchdog deadline was missed |
//!
//! and each policy restarts after these:
//!
//! | policy | clean | code | signal | timeout | watchdog |
//! |---|---|---|---|---|---|
//! | `no` | | | | | |
//! | `always` | ✓ | ✓ | ✓ | ✓ | ✓ |
//! | `on-success` | ✓ | | | | |
//! | `on-failure` | | ✓ | ✓ | ✓ | ✓ |
//! | `on-abnormal` | | | ✓ | ✓ | ✓ |
//! | `on-abort` | | | ✓ | | |
//! | `on-watchdog` | | | | | ✓ |
//!
//! The grammar of an [`ExitSet`] is s6-permafailon's: a comma-separated list of exit codes
//! (`75`), ranges of them (`100-110`) and signal names (`TERM`, `SIGSEGV`, `RTMIN+3`).

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::str::FromStr;

use crate::Signal;

/// Why a run ended, for a restart [`Policy`] (its docs have the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// Exit code 0, death by `HUP`, `INT`, `TERM` or `PIPE`, or an end in the success set.
    Clean,
    /// A non-zero exit code outside the success set.
    Code,
    /// Death by a signal outside the success set.
    Signal,
    /// Readiness was not declared in time.
    Timeout,
    /// The watchdog deadline was missed.
    Watchdog,
}

impl Cause {
    /// The cause of a process's end: [`Cause::Clean`] for what `success` holds, for code 0
    /// and for the signals systemd counts as clean (`HUP`, `INT`, `TERM`, `PIPE`).
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use std::process::ExitStatus;
    /// use pidward::supervise::{Cause, ExitSet};
    ///
    /// let none = ExitSet::default();
    /// assert_eq!(Cause::of(ExitStatus::from_raw(0), &none), Cause::Clean);
    /// assert_eq!(Cause::of(ExitStatus::from_raw(75 << 8), &none), Cause::Code);
    /// assert_eq!(Cause::of(ExitStatus::from_raw(75 << 8), &"75".parse()?), Cause::Clean);
    /// assert_eq!(Cause::of(ExitStatus::from_raw(libc::SIGTERM), &none), Cause::Clean);
    /// assert_eq!(Cause::of(ExitStatus::from_raw(libc::SIGSEGV), &none), Cause::Signal);
    /// # Ok::<(), pidward::supervise::ExitSetError>(())
    /// ```
    pub fn of(status: ExitStatus, success: &ExitSet) -> Cause {
        if success.contains(status) {
            return Cause::Clean;
        }
        match (status.code(), status.signal()) {
            (Some(0), _) => Cause::Clean,
            (Some(_), _) => Cause::Code,
            (None, Some(libc::SIGHUP | libc::SIGINT | libc::SIGTERM | libc::SIGPIPE)) => {
                Cause::Clean
            }
            _ => Cause::Signal,
        }
    }

    /// Its name, as the state file and `status --json` write it: `clean`, `code`, `signal`,
    /// `timeout`, `watchdog`.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Clean => "clean",
            Cause::Code => "code",
            Cause::Signal => "signal",
            Cause::Timeout => "timeout",
            Cause::Watchdog => "watchdog",
        }
    }

    /// The cause of that name.
    pub fn from_name(name: &str) -> Option<Cause> {
        [
            Cause::Clean,
            Cause::Code,
            Cause::Signal,
            Cause::Timeout,
            Cause::Watchdog,
        ]
        .into_iter()
        .find(|c| c.name() == name)
    }
}

/// Which ends of a run start the service again.
///
/// A run ends in one of five ways, as systemd sorts them (`systemd.service(5)`, `Restart=`):
///
/// | cause | meaning |
/// |---|---|
/// | [`Cause::Clean`] | exit code 0, or death by `HUP`, `INT`, `TERM` or `PIPE`, or a code or signal of the success set |
/// | [`Cause::Code`] | any other exit code (also a start that reported `ERRNO=`) |
/// | [`Cause::Signal`] | death by any other signal |
/// | [`Cause::Timeout`] | readiness not declared in time |
/// | [`Cause::Watchdog`] | the watchdog deadline was missed |
///
/// and each policy restarts after these:
///
/// | policy | clean | code | signal | timeout | watchdog |
/// |---|---|---|---|---|---|
/// | `no` | | | | | |
/// | `always` | ✓ | ✓ | ✓ | ✓ | ✓ |
/// | `on-success` | ✓ | | | | |
/// | `on-failure` | | ✓ | ✓ | ✓ | ✓ |
/// | `on-abnormal` | | | ✓ | ✓ | ✓ |
/// | `on-abort` | | | ✓ | | |
/// | `on-watchdog` | | | | | ✓ |
///
/// The grammar of an [`ExitSet`] is s6-permafailon's: a comma-separated list of exit codes
/// (`75`), ranges of them (`100-110`) and signal names (`TERM`, `SIGSEGV`, `RTMIN+3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Policy {
    /// Never (the default).
    #[default]
    No,
    /// After an unclean end: a code, a signal, a timeout or the watchdog.
    OnFailure,
    /// After an unclean signal, a timeout or the watchdog (not after an exit code).
    OnAbnormal,
    /// After an unclean signal only.
    OnAbort,
    /// After the watchdog only.
    OnWatchdog,
    /// After a clean end only.
    OnSuccess,
    /// After any end (but an administrative stop, as every policy).
    Always,
}

impl Policy {
    /// Whether this policy restarts after an end of `cause`.
    ///
    /// ```
    /// use pidward::supervise::{Cause, Policy};
    /// assert!(Policy::OnAbnormal.covers(Cause::Watchdog));
    /// assert!(!Policy::OnAbnormal.covers(Cause::Code));
    /// assert!(Policy::OnSuccess.covers(Cause::Clean));
    /// ```
    pub fn covers(self, cause: Cause) -> bool {
        use Cause::*;
        match self {
            Policy::No => false,
            Policy::Always => true,
            Policy::OnSuccess => cause == Clean,
            Policy::OnFailure => cause != Clean,
            Policy::OnAbnormal => matches!(cause, Signal | Timeout | Watchdog),
            Policy::OnAbort => cause == Signal,
            Policy::OnWatchdog => cause == Watchdog,
        }
    }

    /// Its name: `no`, `on-failure`, `on-abnormal`, `on-abort`, `on-watchdog`, `on-success`,
    /// `always`.
    pub fn name(self) -> &'static str {
        match self {
            Policy::No => "no",
            Policy::OnFailure => "on-failure",
            Policy::OnAbnormal => "on-abnormal",
            Policy::OnAbort => "on-abort",
            Policy::OnWatchdog => "on-watchdog",
            Policy::OnSuccess => "on-success",
            Policy::Always => "always",
        }
    }

    /// Every policy, in the order of the module's table.
    pub const ALL: [Policy; 7] = [
        Policy::No,
        Policy::Always,
        Policy::OnSuccess,
        Policy::OnFailure,
        Policy::OnAbnormal,
        Policy::OnAbort,
        Policy::OnWatchdog,
    ];
}

impl FromStr for Policy {
    type Err = String;

    /// A policy by its name; the error names the value and the choices.
    fn from_str(s: &str) -> Result<Policy, String> {
        Policy::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!(
                    "'{s}' is not a restart policy (no, on-failure, on-abnormal, on-abort, on-watchdog, on-success or always)"
                )
            })
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of exit codes and signals, in s6-permafailon's grammar: `0,75,100-110,TERM,SEGV`.
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::ExitStatus;
/// use pidward::supervise::ExitSet;
///
/// let set: ExitSet = "75,100-110,SIGTERM,SEGV".parse()?;
/// assert!(set.contains(ExitStatus::from_raw(105 << 8)));
/// assert!(set.contains(ExitStatus::from_raw(libc::SIGSEGV)));
/// assert!(!set.contains(ExitStatus::from_raw(1 << 8)));
/// assert!("1-300".parse::<ExitSet>().is_err());
/// # Ok::<(), pidward::supervise::ExitSetError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExitSet {
    /// Bit N: exit code N.
    codes: [u64; 4],
    /// Bit N-1: signal N.
    signals: u64,
}

/// Why a text is not an [`ExitSet`]: it names the item and says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{item}' in '{list}': {problem}")]
pub struct ExitSetError {
    /// The whole list, as given.
    pub list: String,
    /// The item that is wrong.
    pub item: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl ExitSet {
    /// Whether `status` ends with a code or a signal of the set.
    pub fn contains(&self, status: ExitStatus) -> bool {
        match (status.code(), status.signal()) {
            (Some(code), _) => self.has_code(code as u8),
            (None, Some(signo)) => {
                (1..=64).contains(&signo) && self.signals >> (signo - 1) & 1 == 1
            }
            _ => false,
        }
    }

    /// Whether exit code `code` is in the set.
    pub fn has_code(&self, code: u8) -> bool {
        self.codes[usize::from(code / 64)] >> (code % 64) & 1 == 1
    }

    /// Adds exit code `code`.
    pub fn add_code(&mut self, code: u8) {
        self.codes[usize::from(code / 64)] |= 1 << (code % 64);
    }

    /// Adds signal `signal`.
    pub fn add_signal(&mut self, signal: Signal) {
        let n = signal.as_raw();
        if (1..=64).contains(&n) {
            self.signals |= 1 << (n - 1);
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.codes == [0; 4] && self.signals == 0
    }
}

impl FromStr for ExitSet {
    type Err = ExitSetError;

    fn from_str(list: &str) -> Result<ExitSet, ExitSetError> {
        let mut set = ExitSet::default();
        let error = |item: &str, problem| ExitSetError {
            list: list.to_owned(),
            item: item.to_owned(),
            problem,
        };
        for item in list.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(error(item, "an empty item"));
            }
            if item.as_bytes()[0].is_ascii_digit() {
                let (lo, hi) = item.split_once('-').unwrap_or((item, item));
                let code = |t: &str| {
                    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(error(
                            item,
                            "not an exit code, a range of them or a signal name",
                        ));
                    }
                    t.parse::<u8>()
                        .map_err(|_| error(item, "an exit code is 0 to 255"))
                };
                let (lo, hi) = (code(lo)?, code(hi)?);
                if lo > hi {
                    return Err(error(item, "a range goes from low to high"));
                }
                for c in lo..=hi {
                    set.add_code(c);
                }
            } else {
                let signal: Signal = item.parse().map_err(|_| {
                    error(item, "not an exit code, a range of them or a signal name")
                })?;
                set.add_signal(signal);
            }
        }
        Ok(set)
    }
}
