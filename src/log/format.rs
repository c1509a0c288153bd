//! The three line formats: `text` for people at a terminal, `logfmt` for grep and log
//! shippers, `json` (one object per line) for everything else.
//!
//! ```text
//! 2026-11-22T09:12:44.310Z app warning exited pid=4301 code=1 ran=0.41s
//! ts=2026-11-22T09:12:44.310Z level=warning event=exited tag=app pid=4301 code=1 ran=0.41s
//! {"ts":"2026-11-22T09:12:44.310Z","level":"warning","event":"exited","tag":"app","pid":4301,"code":1,"ran":0.41}
//! ```
//!
//! Text values are quoted in `text` and `logfmt` when they are empty or hold a space, a quote,
//! `=` or a control character; inside quotes `"` and `\` are escaped, and control characters
//! written `\n`, `\t` or `\u{..}`, so that a line is always one line.

use std::fmt::Write as _;
use std::str::FromStr;

use super::record::{Record, Value, seconds};
use crate::time::Rfc3339;

/// A line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `TIME TAG LEVEL EVENT key=value...`.
    Text,
    /// `ts=TIME level=LEVEL event=EVENT tag=TAG key=value...`.
    #[default]
    Logfmt,
    /// One JSON object.
    Json,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "text" => Ok(Format::Text),
            "logfmt" => Ok(Format::Logfmt),
            "json" => Ok(Format::Json),
            _ => Err(format!("{s:?} is not text, logfmt or json")),
        }
    }
}

impl Format {
    /// `record` as one line with its newline. `bare` leaves out the time and the tag (for
    /// syslog and the journal, which carry both in their own framing). `extra` fields follow
    /// the record's own (the count of lines dropped before this one).
    ///
    /// ```
    /// use pidward::log::{Format, Level, Record};
    ///
    /// let r = Record::new(Level::Warning, "exited").field("pid", 4301u32).field("code", 1);
    /// let line = Format::Logfmt.line(&r, "app", false, &[]);
    /// assert!(line.ends_with(" level=warning event=exited tag=app pid=4301 code=1\n"));
    /// assert_eq!(Format::Logfmt.line(&r, "app", true, &[]), "level=warning event=exited pid=4301 code=1\n");
    /// ```
    pub fn line(self, record: &Record, tag: &str, bare: bool, extra: &[(&str, Value)]) -> String {
        let mut out = String::with_capacity(160);
        let fields = record
            .fields
            .iter()
            .map(|(k, v)| (*k, v))
            .chain(extra.iter().map(|(k, v)| (*k, v)));
        let ts = Rfc3339(record.time);
        match self {
            Format::Text => {
                if !bare {
                    let _ = write!(out, "{ts} {} ", plain(tag));
                }
                let _ = write!(out, "{} {}", record.level, record.event);
                for (k, v) in fields {
                    out.push(' ');
                    out.push_str(k);
                    out.push('=');
                    logfmt_value(&mut out, v);
                }
            }
            Format::Logfmt => {
                if !bare {
                    let _ = write!(out, "ts={ts} ");
                }
                let _ = write!(out, "level={} event={}", record.level, record.event);
                if !bare {
                    out.push_str(" tag=");
                    logfmt_value(&mut out, &Value::Str(tag.to_owned()));
                }
                for (k, v) in fields {
                    out.push(' ');
                    out.push_str(k);
                    out.push('=');
                    logfmt_value(&mut out, v);
                }
            }
            Format::Json => {
                out.push('{');
                if !bare {
                    let _ = write!(out, "\"ts\":\"{ts}\",");
                }
                let _ = write!(
                    out,
                    "\"level\":\"{}\",\"event\":\"{}\"",
                    record.level, record.event
                );
                if !bare {
                    out.push_str(",\"tag\":");
                    json_string(&mut out, tag);
                }
                for (k, v) in fields {
                    let _ = write!(out, ",\"{k}\":");
                    match v {
                        Value::Int(n) => {
                            let _ = write!(out, "{n}");
                        }
                        Value::Str(s) => json_string(&mut out, s),
                        Value::Secs(d) => out.push_str(&seconds(*d)),
                        Value::Bool(b) => {
                            let _ = write!(out, "{b}");
                        }
                    }
                }
                out.push('}');
            }
        }
        out.push('\n');
        out
    }
}

/// A tag as text shows it (quoted if it must be).
fn plain(tag: &str) -> String {
    let mut s = String::new();
    logfmt_value(&mut s, &Value::Str(tag.to_owned()));
    s
}

fn logfmt_value(out: &mut String, v: &Value) {
    match v {
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Secs(d) => {
            out.push_str(&seconds(*d));
            out.push('s');
        }
        Value::Str(s) => {
            let quote = s.is_empty()
                || s.chars()
                    .any(|c| c == ' ' || c == '"' || c == '=' || c == '\\' || c.is_control());
            if !quote {
                out.push_str(s);
                return;
            }
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    c if c.is_control() => {
                        let _ = write!(out, "\\u{{{:x}}}", c as u32);
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
        }
    }
}

/// A JSON string (RFC 8259 escapes).
pub(crate) fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Level;
    use std::time::{Duration, SystemTime};

    fn record() -> Record {
        Record::new(Level::Warning, "exited")
            .at(SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_425_164_310))
            .field("pid", 4301u32)
            .field("code", 1)
            .field("ran", Duration::from_millis(410))
            .field("status", "half \"way\"\n")
    }

    #[test]
    fn each_format() {
        let r = record();
        assert_eq!(
            Format::Logfmt.line(&r, "app", false, &[]),
            "ts=2026-11-23T09:12:44.310Z level=warning event=exited tag=app pid=4301 code=1 \
             ran=0.41s status=\"half \\\"way\\\"\\n\"\n"
        );
        assert_eq!(
            Format::Text.line(&r, "app", false, &[("dropped", Value::Int(2))]),
            "2026-11-23T09:12:44.310Z app warning exited pid=4301 code=1 ran=0.41s \
             status=\"half \\\"way\\\"\\n\" dropped=2\n"
        );
        assert_eq!(
            Format::Json.line(&r, "a\"pp", false, &[]),
            "{\"ts\":\"2026-11-23T09:12:44.310Z\",\"level\":\"warning\",\"event\":\"exited\",\
             \"tag\":\"a\\\"pp\",\"pid\":4301,\"code\":1,\"ran\":0.41,\"status\":\"half \\\"way\\\"\\n\"}\n"
        );
    }
}
