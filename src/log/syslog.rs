//! Syslog framing: RFC 3164 as syslog(3) writes it to `/dev/log`, and RFC 5424.
//!
//! ```text
//! <29>Nov 22 09:12:44 app[4300]: level=info event=spawned pid=4301 restart=0
//! <29>1 2026-11-22T09:12:44.310Z host app 4300 spawned - level=info event=spawned pid=4301 restart=0
//! ```
//!
//! The priority is `facility * 8 + severity`. RFC 3164 has local time without a year or a
//! zone (`localtime_r(3)`), as glibc writes it; RFC 5424 the RFC 3339 UTC time, the host
//! name, and the event (or the stream, for the service's output) as its MSGID.

use std::time::SystemTime;

use crate::time::Rfc3339;

/// Longest message body sent (rsyslog's default maximum message size is 8 KiB).
pub const MAX_BODY: usize = 8000;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `body` cut to [`MAX_BODY`] bytes on a character boundary, without its newline.
fn cut(body: &str) -> &str {
    let body = body.strip_suffix('\n').unwrap_or(body);
    if body.len() <= MAX_BODY {
        return body;
    }
    let mut end = MAX_BODY;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}

/// An RFC 3164 datagram: `<PRI>Mmm dd hh:mm:ss TAG[PID]: BODY`.
///
/// ```
/// use std::time::SystemTime;
/// let d = pidward::log::syslog::rfc3164(3 * 8 + 5, SystemTime::now(), "app", 42, "hello\n");
/// let d = String::from_utf8(d).unwrap();
/// assert!(d.starts_with("<29>") && d.ends_with(" app[42]: hello"), "{d}");
/// ```
pub fn rfc3164(pri: u8, time: SystemTime, tag: &str, pid: u32, body: &str) -> Vec<u8> {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as libc::time_t;
    // SAFETY: localtime_r(3) fills the zeroed struct we own from a live time_t.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    format!(
        "<{pri}>{} {:2} {:02}:{:02}:{:02} {tag}[{pid}]: {}",
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        cut(body)
    )
    .into_bytes()
}

/// An RFC 5424 datagram: `<PRI>1 TIMESTAMP HOST TAG PID MSGID - BODY`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_440_091_123);
/// let d = pidward::log::syslog::rfc5424(30, t, "h", "app", 42, "exited", "x=1\n");
/// assert_eq!(d, b"<30>1 2026-11-23T13:21:31.123Z h app 42 exited - x=1");
/// ```
pub fn rfc5424(
    pri: u8,
    time: SystemTime,
    host: &str,
    tag: &str,
    pid: u32,
    msgid: &str,
    body: &str,
) -> Vec<u8> {
    // Header fields are printable US-ASCII without spaces, at most 48 (APP-NAME) or 32
    // (MSGID) characters; "-" stands for none.
    let field = |s: &str, max: usize| -> String {
        let s: String = s
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(max)
            .collect();
        if s.is_empty() { "-".into() } else { s }
    };
    format!(
        "<{pri}>1 {} {} {} {pid} {} - {}",
        Rfc3339(time),
        field(host, 255),
        field(tag, 48),
        field(msgid, 32),
        cut(body)
    )
    .into_bytes()
}

/// This machine's name (`gethostname(2)`), `-` when it has none.
pub(crate) fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "-".into())
}
