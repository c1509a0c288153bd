//! journald's native protocol: one datagram per entry, to `/run/systemd/journal/socket`.
//!
//! An entry is a list of fields. A field whose value has no newline is `NAME=value\n`; one
//! whose value has a newline is `NAME\n`, the value's length as a 64-bit little-endian
//! number, the value, and `\n` (systemd's `journal-native-protocol`). Names are upper case
//! letters, digits and `_`, and do not start with `_` (those are the journal's own, trusted
//! fields). An entry pidward writes has `MESSAGE`, `PRIORITY`, `SYSLOG_IDENTIFIER`,
//! `SYSLOG_FACILITY`, `SYSLOG_PID` and, for each field of the event, `PIDWARD_<NAME>`
//! (`PIDWARD_EVENT=exited`, `PIDWARD_PID=4301`, `PIDWARD_CODE=1`...).
//!
//! Under systemd with the standard error connected to the journal (`$JOURNAL_STREAM` names
//! it), a line on the standard error prefixed with `<N>`, N being the syslog severity, is an
//! entry of that priority: `journal` then writes there (no socket needed).

use super::record::{Record, Value, seconds};

/// Largest `MESSAGE` sent in one datagram (the socket takes about 200 KiB).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Appends one field to an entry (module docs).
///
/// ```
/// let mut e = Vec::new();
/// pidward::log::journal::field(&mut e, "MESSAGE", b"one");
/// pidward::log::journal::field(&mut e, "STATUS", b"two\nlines");
/// assert_eq!(e, b"MESSAGE=one\nSTATUS\n\x09\0\0\0\0\0\0\0two\nlines\n");
/// ```
pub fn field(entry: &mut Vec<u8>, name: &str, value: &[u8]) {
    entry.extend_from_slice(name.as_bytes());
    if value.contains(&b'\n') {
        entry.push(b'\n');
        entry.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        entry.push(b'=');
    }
    entry.extend_from_slice(value);
    entry.push(b'\n');
}

/// `name` as a journal field name: `PIDWARD_` and the name in upper case, `-` as `_`.
fn field_name(name: &str) -> String {
    let mut s = String::from("PIDWARD_");
    s.extend(name.chars().map(|c| match c {
        'a'..='z' => c.to_ascii_uppercase(),
        'A'..='Z' | '0'..='9' => c,
        _ => '_',
    }));
    s
}

/// The fields every entry has.
pub(crate) fn header(
    entry: &mut Vec<u8>,
    message: &[u8],
    severity: u8,
    tag: &str,
    facility: u8,
    pid: u32,
) {
    let message = &message[..message.len().min(MAX_MESSAGE)];
    let message = message.strip_suffix(b"\n").unwrap_or(message);
    field(entry, "MESSAGE", message);
    field(entry, "PRIORITY", severity.to_string().as_bytes());
    field(entry, "SYSLOG_IDENTIFIER", tag.as_bytes());
    field(entry, "SYSLOG_FACILITY", facility.to_string().as_bytes());
    field(entry, "SYSLOG_PID", pid.to_string().as_bytes());
}

/// The entry of a lifecycle record: its line as `MESSAGE`, its fields as `PIDWARD_*`.
pub(crate) fn entry(
    record: &Record,
    message: &str,
    tag: &str,
    facility: u8,
    pid: u32,
    extra: &[(&str, Value)],
) -> Vec<u8> {
    let mut e = Vec::with_capacity(256);
    header(
        &mut e,
        message.as_bytes(),
        record.level.severity(),
        tag,
        facility,
        pid,
    );
    field(&mut e, "PIDWARD_EVENT", record.event.as_bytes());
    let fields = record
        .fields
        .iter()
        .map(|(k, v)| (*k, v))
        .chain(extra.iter().map(|(k, v)| (*k, v)));
    for (k, v) in fields {
        let text = match v {
            Value::Int(n) => n.to_string(),
            Value::Str(s) => s.clone(),
            Value::Secs(d) => seconds(*d),
            Value::Bool(b) => b.to_string(),
        };
        field(&mut e, &field_name(k), text.as_bytes());
    }
    e
}
