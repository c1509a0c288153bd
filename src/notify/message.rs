//! One sd_notify message, parsed strictly.
//!
//! A datagram is a list of lines separated by `\n`; each line is `KEY=VALUE`, where `KEY` is
//! made of ASCII letters, digits and `_`, and the line is valid UTF-8. Lines that break these
//! rules are ignored one by one (a sender cannot make a good line disappear by adding a bad
//! one); a datagram with a NUL byte anywhere is ignored whole, as systemd does.
//!
//! The well-known keys are interpreted the way systemd interprets them: the *first*
//! occurrence of a key decides; `READY=1`, `STOPPING=1` and `RELOADING=1` count only with the
//! value `1`; `ERRNO=` is a non-negative decimal errno; `MAINPID=` a positive decimal PID;
//! `EXTEND_TIMEOUT_USEC=` a decimal count of microseconds. A well-known key with a bad value
//! stays in [`Notification::fields`] but its typed field is `None`.
//!
//! Datagrams are read into a buffer of [`MAX_MESSAGE`] bytes. A longer one is cut by the
//! kernel (`MSG_TRUNC` tells); its last, incomplete line is then dropped (a cut `ERRNO=98`
//! could read `ERRNO=9`) and [`Notification::truncated`] is set.

use std::io;
use std::time::Duration;

/// The largest datagram read whole, in bytes (systemd's limit too). Longer ones are cut at
/// their last complete line and flagged [`Notification::truncated`].
pub const MAX_MESSAGE: usize = 4096;

/// One sd_notify message from an accepted sender, as returned by
/// [`Listener::recv`](super::Listener::recv).
///
/// ```
/// use pidward::notify::{Listener, Notifier};
///
/// let listener = Listener::bind_private()?;
/// Notifier::new(listener.address())?.send("READY=1\nSTATUS=serving on :8080\nX_PORT=8080")?;
/// let n = listener.recv()?.expect("the datagram is queued");
/// assert!(n.ready);
/// assert_eq!(n.status.as_deref(), Some("serving on :8080"));
/// assert_eq!(n.get("X_PORT"), Some("8080"));
/// assert_eq!(n.sender, std::process::id());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Notification {
    /// PID of the sending process, from its kernel-attested credentials (`SCM_CREDENTIALS`),
    /// in the listener's PID namespace; 0 if the kernel could not tell (only with
    /// [`Accept::Any`](super::Accept::Any)).
    pub sender: u32,
    /// User id of the sending process, from the same credentials.
    pub uid: u32,
    /// `READY=1`: start-up is finished.
    pub ready: bool,
    /// `STOPPING=1`: the service is shutting down.
    pub stopping: bool,
    /// `RELOADING=1`: the service is reloading its configuration (`READY=1` follows when done).
    pub reloading: bool,
    /// `STATUS=`: free-form text describing the service's state.
    pub status: Option<String>,
    /// `ERRNO=`: an errno describing a failure (`0` means none). See [`Notification::error`].
    pub errno: Option<i32>,
    /// `MAINPID=`: the service's main process, when it is not the one that was started. The
    /// listener keeps it only when it names a process its [`Accept`](super::Accept) policy
    /// accepts; otherwise it is `None` (and stays in [`fields`](Self::fields)).
    pub main_pid: Option<u32>,
    /// `EXTEND_TIMEOUT_USEC=`: the service needs this much more time, counted from now.
    pub extend_timeout: Option<Duration>,
    /// Every well-formed `KEY=VALUE` line of the message, in order, including the ones above.
    pub fields: Vec<(String, String)>,
    /// The datagram was longer than [`MAX_MESSAGE`]: its last, incomplete line was dropped.
    pub truncated: bool,
}

impl Notification {
    /// The value of the first line with this key, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The `ERRNO=` of the message as an OS error (whose `Display` reads, for `ERRNO=98`,
    /// "Address already in use (os error 98)"); `None` when absent or 0.
    ///
    /// ```
    /// use pidward::notify::{Listener, Notifier};
    ///
    /// let listener = Listener::bind_private()?;
    /// Notifier::new(listener.address())?.send("ERRNO=98")?;
    /// let n = listener.recv()?.unwrap();
    /// assert!(n.error().unwrap().to_string().contains("Address already in use"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn error(&self) -> Option<io::Error> {
        match self.errno {
            Some(errno) if errno > 0 => Some(io::Error::from_raw_os_error(errno)),
            _ => None,
        }
    }

    /// Parses a received datagram. `truncated` says the kernel cut it (`MSG_TRUNC`), in which
    /// case the bytes after the last newline are an incomplete line and are dropped. Returns
    /// `None` for a datagram that must be ignored whole (it contains a NUL byte).
    pub(crate) fn parse(datagram: &[u8], truncated: bool) -> Option<Notification> {
        if datagram.contains(&0) {
            return None;
        }
        let complete = if truncated {
            match datagram.iter().rposition(|&b| b == b'\n') {
                Some(last) => &datagram[..last],
                None => &[][..],
            }
        } else {
            datagram
        };
        let mut n = Notification {
            truncated,
            ..Notification::default()
        };
        for line in complete.split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            match parse_line(line) {
                Some((key, value)) => n.fields.push((key.to_owned(), value.to_owned())),
                None => tracing::debug!(
                    line = %String::from_utf8_lossy(line),
                    "ignoring a malformed sd_notify line"
                ),
            }
        }
        n.ready = n.get("READY") == Some("1");
        n.stopping = n.get("STOPPING") == Some("1");
        n.reloading = n.get("RELOADING") == Some("1");
        n.status = n.get("STATUS").map(str::to_owned);
        n.errno = n.get("ERRNO").and_then(parse_decimal::<i32>);
        n.main_pid = n
            .get("MAINPID")
            .and_then(parse_decimal::<u32>)
            .filter(|&pid| pid > 0);
        n.extend_timeout = n
            .get("EXTEND_TIMEOUT_USEC")
            .and_then(parse_decimal::<u64>)
            .map(Duration::from_micros);
        Some(n)
    }
}

/// Splits one line into key and value, or `None` if it is not `KEY=VALUE` in UTF-8 with a
/// key of ASCII letters, digits and `_`.
fn parse_line(line: &[u8]) -> Option<(&str, &str)> {
    let line = std::str::from_utf8(line).ok()?;
    let (key, value) = line.split_once('=')?;
    let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    key_ok.then_some((key, value))
}

/// Plain decimal digits only (no sign, no spaces, no `0x`), within the type's range.
fn parse_decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Notification {
        Notification::parse(text.as_bytes(), false).unwrap()
    }

    #[test]
    fn well_known_keys_are_interpreted() {
        let n = parse(
            "READY=1\nSTATUS=up: 3 workers\nERRNO=0\nMAINPID=42\nEXTEND_TIMEOUT_USEC=1500000\nX_Y=a=b\n",
        );
        assert!(n.ready && !n.stopping && !n.reloading && !n.truncated);
        assert_eq!(n.status.as_deref(), Some("up: 3 workers"));
        assert_eq!(n.errno, Some(0));
        assert!(n.error().is_none());
        assert_eq!(n.main_pid, Some(42));
        assert_eq!(n.extend_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(n.get("X_Y"), Some("a=b"));
        assert_eq!(n.fields.len(), 6);
    }

    #[test]
    fn flags_need_exactly_one() {
        for text in [
            "READY=0",
            "READY=true",
            "READY= 1",
            "READY=1 ",
            "ready=1",
            "READY",
        ] {
            assert!(!parse(text).ready, "{text:?}");
        }
        let n = parse("STOPPING=1\nRELOADING=1");
        assert!(n.stopping && n.reloading && !n.ready);
    }

    #[test]
    fn bad_values_of_typed_keys_give_none() {
        let n = parse("ERRNO=-5\nMAINPID=0\nEXTEND_TIMEOUT_USEC=1e6");
        assert_eq!((n.errno, n.main_pid, n.extend_timeout), (None, None, None));
        assert_eq!(n.get("ERRNO"), Some("-5"));
        let n = parse("ERRNO=+5\nMAINPID=99999999999\nEXTEND_TIMEOUT_USEC=");
        assert_eq!((n.errno, n.main_pid, n.extend_timeout), (None, None, None));
        assert_eq!(parse("ERRNO=98").error().unwrap().raw_os_error(), Some(98));
    }

    #[test]
    fn the_first_occurrence_decides() {
        let n = parse("STATUS=first\nSTATUS=second\nERRNO=x\nERRNO=5");
        assert_eq!(n.status.as_deref(), Some("first"));
        assert_eq!(n.errno, None);
    }

    #[test]
    fn malformed_lines_are_skipped_one_by_one() {
        let mut datagram = b"no equals sign\n=empty key\nBAD KEY=1\nSTATUS=ok\n".to_vec();
        datagram.extend_from_slice(b"BIN=\xff\xfe\nREADY=1\n\n\n");
        let n = Notification::parse(&datagram, false).unwrap();
        assert!(n.ready);
        assert_eq!(n.status.as_deref(), Some("ok"));
        assert_eq!(n.fields.len(), 2);
    }

    #[test]
    fn a_nul_byte_voids_the_datagram() {
        assert_eq!(Notification::parse(b"READY=1\nSTATUS=a\0b", false), None);
    }

    #[test]
    fn a_truncated_datagram_loses_its_last_line() {
        let n = Notification::parse(b"READY=1\nERRNO=9", true).unwrap();
        assert!(n.ready && n.truncated);
        assert_eq!(n.errno, None);
        let n = Notification::parse(b"READY=1", true).unwrap();
        assert!(!n.ready && n.fields.is_empty());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), cut in any::<bool>()) {
            if let Some(n) = Notification::parse(&bytes, cut) {
                for (k, v) in &n.fields {
                    prop_assert!(!k.is_empty() && !k.contains('=') && !k.contains('\n'));
                    prop_assert!(!v.contains('\n'));
                }
            }
        }

        #[test]
        fn well_formed_fields_round_trip(
            fields in proptest::collection::vec(("[A-Za-z0-9_]{1,12}", "[^\n\0]{0,40}"), 0..12)
        ) {
            let text: String = fields.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            let n = Notification::parse(text.as_bytes(), false).unwrap();
            let got: Vec<(String, String)> = n.fields.clone();
            prop_assert_eq!(got, fields);
        }
    }
}
