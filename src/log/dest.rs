//! Where lines go: the `DEST` grammar of `--log`, `--stdout`, `--stderr` and `-o`.
//!
//! ```text
//! stderr                                   pidward's standard error (the default of --log)
//! none                                     nowhere
//! syslog[:FACILITY[.LEVEL]][@SOCKET]       RFC 3164 datagrams (as syslog(3) writes them)
//! syslog5424[:FACILITY[.LEVEL]][@SOCKET]   RFC 5424 datagrams
//! journal[@SOCKET]                         journald's native protocol
//! anything else                            a file path (./stderr for a file of that name)
//! ```
//!
//! `FACILITY` is one of syslog's names (`daemon`, the default, `user`, `local0`…`local7`…),
//! `LEVEL` a severity (`emerg`, `alert`, `crit`, `err`/`error`, `warning`/`warn`, `notice`,
//! `info`, `debug`): libslack's `daemon.notice` spelling. `SOCKET` replaces `/dev/log` or
//! `/run/systemd/journal/socket`.

use std::path::PathBuf;
use std::str::FromStr;

/// The socket syslog(3) writes to.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// journald's native protocol socket.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Syslog's facilities, by code (RFC 5424 section 6.2.1, with the Linux names).
const FACILITIES: [(&str, u8); 22] = [
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
    ("security", 4),
    ("console", 14),
];

/// Syslog's severities, by code.
const SEVERITIES: [(&str, u8); 11] = [
    ("emerg", 0),
    ("panic", 0),
    ("alert", 1),
    ("crit", 2),
    ("err", 3),
    ("error", 3),
    ("warning", 4),
    ("warn", 4),
    ("notice", 5),
    ("info", 6),
    ("debug", 7),
];

/// The syslog facility `daemon`.
pub const DAEMON: u8 = 3;

/// A destination (module docs).
///
/// ```
/// use pidward::log::Dest;
///
/// assert_eq!("stderr".parse::<Dest>()?, Dest::Stderr);
/// assert!(matches!("syslog:local3.notice".parse::<Dest>()?,
///     Dest::Syslog { facility: 19, severity: Some(5), rfc5424: false, .. }));
/// assert!("syslog:nosuch.level".parse::<Dest>().is_err());
/// assert!(matches!("/var/log/app.log".parse::<Dest>()?, Dest::File(_)));
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// pidward's standard error.
    Stderr,
    /// Nowhere.
    None,
    /// A file, appended to.
    File(PathBuf),
    /// Syslog datagrams.
    Syslog {
        /// The facility code.
        facility: u8,
        /// The severity given (`.LEVEL`), if any.
        severity: Option<u8>,
        /// RFC 5424 framing rather than RFC 3164.
        rfc5424: bool,
        /// The socket.
        socket: PathBuf,
    },
    /// The journal: a socket given with `@`, or the default one (then the standard error
    /// stream instead when `$JOURNAL_STREAM` says it is connected to the journal).
    Journal {
        /// The socket given with `@`.
        socket: Option<PathBuf>,
    },
}

impl FromStr for Dest {
    type Err = String;

    fn from_str(s: &str) -> Result<Dest, String> {
        match s {
            "" => {
                return Err(
                    "an empty destination (give stderr, none, syslog, journal or a path)".into(),
                );
            }
            "stderr" => return Ok(Dest::Stderr),
            "none" => return Ok(Dest::None),
            _ => {}
        }
        let (head, socket) = match s.split_once('@') {
            Some((h, sock)) if is_keyword(h) => {
                if sock.is_empty() {
                    return Err(format!("{s:?}: no socket path after @"));
                }
                (h, Some(PathBuf::from(sock)))
            }
            _ => (s, None),
        };
        if head == "journal" {
            return Ok(Dest::Journal { socket });
        }
        let rest = if let Some(r) = head.strip_prefix("syslog5424") {
            Some((true, r))
        } else {
            head.strip_prefix("syslog").map(|r| (false, r))
        };
        let Some((rfc5424, rest)) = rest.filter(|(_, r)| r.is_empty() || r.starts_with(':')) else {
            return Ok(Dest::File(PathBuf::from(s)));
        };
        let spec = rest.strip_prefix(':').unwrap_or("");
        let (fac, sev) = match spec.split_once('.') {
            Some((f, l)) => (f, Some(l)),
            None => (spec, None),
        };
        let facility = match fac {
            "" => DAEMON,
            f => facility(f).ok_or_else(|| {
                format!("{s:?}: {f:?} is not a syslog facility (daemon, user, local0..local7, ...)")
            })?,
        };
        let severity = match sev {
            None => None,
            Some(l) => Some(severity(l).ok_or_else(|| {
                format!("{s:?}: {l:?} is not a syslog level (emerg, alert, crit, err, warning, notice, info, debug)")
            })?),
        };
        Ok(Dest::Syslog {
            facility,
            severity,
            rfc5424,
            socket: socket.unwrap_or_else(|| PathBuf::from(SYSLOG_SOCKET)),
        })
    }
}

fn is_keyword(head: &str) -> bool {
    head == "journal" || head.starts_with("syslog")
}

/// A facility's code by name.
pub(crate) fn facility(name: &str) -> Option<u8> {
    FACILITIES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// A severity's code by name.
pub(crate) fn severity(name: &str) -> Option<u8> {
    SEVERITIES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        assert_eq!("none".parse::<Dest>().unwrap(), Dest::None);
        assert_eq!(
            "journal@/tmp/j".parse::<Dest>().unwrap(),
            Dest::Journal {
                socket: Some("/tmp/j".into())
            }
        );
        assert_eq!(
            "syslog5424:.err@/tmp/s".parse::<Dest>().unwrap(),
            Dest::Syslog {
                facility: DAEMON,
                severity: Some(3),
                rfc5424: true,
                socket: "/tmp/s".into()
            }
        );
        assert_eq!(
            "syslog".parse::<Dest>().unwrap(),
            Dest::Syslog {
                facility: DAEMON,
                severity: None,
                rfc5424: false,
                socket: SYSLOG_SOCKET.into()
            }
        );
        assert_eq!(
            "syslogd.log".parse::<Dest>().unwrap(),
            Dest::File("syslogd.log".into())
        );
        assert_eq!(
            "./stderr".parse::<Dest>().unwrap(),
            Dest::File("./stderr".into())
        );
        let e = "syslog:nosuch.level".parse::<Dest>().unwrap_err();
        assert!(
            e.contains("syslog:nosuch.level") && e.contains("\"nosuch\""),
            "{e}"
        );
        let e = "syslog:daemon.loud".parse::<Dest>().unwrap_err();
        assert!(e.contains("\"loud\""), "{e}");
        assert!("syslog@".parse::<Dest>().is_err());
    }
}
