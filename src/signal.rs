//! Signal names and numbers.
//!
//! [`Signal`] is a plain signal number with the parsing and naming that operators expect:
//! `TERM`, `SIGTERM`, `term`, `15` and `RTMIN+3` all parse, and a signal displays as its
//! canonical name without the `SIG` prefix (`TERM`, `RTMIN+3`), the form `kill -l` prints.
//!
//! The real-time range is read from the C library at run time (`SIGRTMIN()`/`SIGRTMAX()`),
//! because glibc reserves the first few kernel real-time signals for itself.

use std::fmt;
use std::str::FromStr;

/// A Unix signal, by number.
///
/// ```
/// use pidward::Signal;
///
/// let term: Signal = "sigterm".parse()?;
/// assert_eq!(term, Signal::TERM);
/// assert_eq!(term.to_string(), "TERM");
/// assert_eq!("15".parse::<Signal>()?, Signal::TERM);
/// let rt: Signal = "RTMIN+3".parse()?;
/// assert_eq!(rt.to_string(), "RTMIN+3");
/// assert!("SIGBOGUS".parse::<Signal>().is_err());
/// # Ok::<(), pidward::signal::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(i32);

/// Why a string or number names no signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No signal has this name or number (the text as given).
    #[error("unknown signal {0:?} (try a name such as TERM, a number such as 15, or RTMIN+N)")]
    Unknown(String),
}

/// Names of the standard (non real-time) signals on Linux, in `kill -l` order.
const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Accepted aliases: parsed, never displayed.
const ALIASES: &[(&str, i32)] = &[
    ("IOT", libc::SIGABRT),
    ("POLL", libc::SIGIO),
    ("CLD", libc::SIGCHLD),
];

impl Signal {
    /// `SIGHUP`
    pub const HUP: Signal = Signal(libc::SIGHUP);
    /// `SIGINT`
    pub const INT: Signal = Signal(libc::SIGINT);
    /// `SIGQUIT`
    pub const QUIT: Signal = Signal(libc::SIGQUIT);
    /// `SIGABRT`
    pub const ABRT: Signal = Signal(libc::SIGABRT);
    /// `SIGKILL`
    pub const KILL: Signal = Signal(libc::SIGKILL);
    /// `SIGUSR1`
    pub const USR1: Signal = Signal(libc::SIGUSR1);
    /// `SIGSEGV`
    pub const SEGV: Signal = Signal(libc::SIGSEGV);
    /// `SIGUSR2`
    pub const USR2: Signal = Signal(libc::SIGUSR2);
    /// `SIGPIPE`
    pub const PIPE: Signal = Signal(libc::SIGPIPE);
    /// `SIGALRM`
    pub const ALRM: Signal = Signal(libc::SIGALRM);
    /// `SIGTERM`
    pub const TERM: Signal = Signal(libc::SIGTERM);
    /// `SIGCHLD`
    pub const CHLD: Signal = Signal(libc::SIGCHLD);
    /// `SIGCONT`
    pub const CONT: Signal = Signal(libc::SIGCONT);
    /// `SIGSTOP`
    pub const STOP: Signal = Signal(libc::SIGSTOP);
    /// `SIGTSTP`
    pub const TSTP: Signal = Signal(libc::SIGTSTP);
    /// `SIGWINCH`
    pub const WINCH: Signal = Signal(libc::SIGWINCH);

    /// The signal with this number, if the system has one (`1..=SIGRTMAX`).
    pub fn from_raw(signo: i32) -> Option<Signal> {
        (1..=libc::SIGRTMAX())
            .contains(&signo)
            .then_some(Signal(signo))
    }

    /// The signal number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    /// Whether a process can catch, block or ignore this signal (everything but KILL and STOP).
    pub const fn is_catchable(self) -> bool {
        self.0 != libc::SIGKILL && self.0 != libc::SIGSTOP
    }

    /// The canonical name without the `SIG` prefix: `TERM`, `RTMIN+3`, `RTMAX`.
    pub fn name(self) -> String {
        if let Some((name, _)) = NAMES.iter().find(|(_, n)| *n == self.0) {
            return (*name).to_owned();
        }
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        if self.0 == min {
            "RTMIN".to_owned()
        } else if self.0 == max {
            "RTMAX".to_owned()
        } else if (min..max).contains(&self.0) {
            format!("RTMIN+{}", self.0 - min)
        } else {
            // Kernel real-time signals reserved by the C library (32, 33 on glibc).
            format!("{}", self.0)
        }
    }
}

impl FromStr for Signal {
    type Err = Error;

    fn from_str(text: &str) -> Result<Signal, Error> {
        let unknown = || Error::Unknown(text.to_owned());
        let s = text.trim();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse()
                .ok()
                .and_then(Signal::from_raw)
                .ok_or_else(unknown);
        }
        let upper = s.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some((_, n)) = NAMES.iter().chain(ALIASES).find(|(name, _)| *name == bare) {
            return Ok(Signal(*n));
        }
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        let offset = |rest: &str| -> Option<i32> {
            if rest.is_empty() {
                return Some(0);
            }
            let digits = rest.strip_prefix(['+', '-'])?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: i32 = digits.parse().ok()?;
            Some(if rest.starts_with('-') { -n } else { n })
        };
        let signo = if let Some(rest) = bare.strip_prefix("RTMIN") {
            offset(rest).filter(|n| *n >= 0).map(|n| min + n)
        } else if let Some(rest) = bare.strip_prefix("RTMAX") {
            offset(rest).filter(|n| *n <= 0).map(|n| max + n)
        } else {
            None
        };
        signo
            .filter(|n| (min..=max).contains(n))
            .map(Signal)
            .ok_or_else(unknown)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signal({}={})", self.name(), self.0)
    }
}

impl From<Signal> for i32 {
    fn from(s: Signal) -> i32 {
        s.0
    }
}

impl TryFrom<i32> for Signal {
    type Error = Error;

    fn try_from(signo: i32) -> Result<Signal, Error> {
        Signal::from_raw(signo).ok_or_else(|| Error::Unknown(signo.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_standard_name_round_trips() {
        for (name, n) in NAMES {
            let s: Signal = name.parse().unwrap();
            assert_eq!(s.as_raw(), *n);
            assert_eq!(s.to_string(), *name);
            assert_eq!(format!("SIG{name}").parse::<Signal>().unwrap(), s);
            assert_eq!(name.to_lowercase().parse::<Signal>().unwrap(), s);
            assert_eq!(n.to_string().parse::<Signal>().unwrap(), s);
        }
    }

    #[test]
    fn realtime_range() {
        let min = libc::SIGRTMIN();
        let max = libc::SIGRTMAX();
        assert_eq!("RTMIN".parse::<Signal>().unwrap().as_raw(), min);
        assert_eq!("SIGRTMIN+3".parse::<Signal>().unwrap().as_raw(), min + 3);
        assert_eq!("rtmax-1".parse::<Signal>().unwrap().as_raw(), max - 1);
        assert_eq!(Signal::from_raw(min + 3).unwrap().to_string(), "RTMIN+3");
        assert_eq!(Signal::from_raw(max).unwrap().to_string(), "RTMAX");
        for n in min..=max {
            let s = Signal::from_raw(n).unwrap();
            assert_eq!(s.to_string().parse::<Signal>().unwrap(), s);
        }
        for bad in [
            "RTMIN+99", "RTMIN-1", "RTMAX+1", "RTMIN+", "RTMIN+x", "RTMIN++1",
        ] {
            assert!(bad.parse::<Signal>().is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_junk() {
        for bad in [
            "",
            "0",
            "-15",
            "+15",
            "65",
            "999999999999",
            "SIG",
            "TERMX",
            "1 5",
            "0x0f",
        ] {
            assert_eq!(
                bad.parse::<Signal>(),
                Err(Error::Unknown(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
