//! One log line before it is written: its time, level, event name and fields.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// How much a line matters. The order is the severity's: `Error` is the most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something went wrong and was handled (an unclean exit, a restart).
    Warning,
    /// The service's life: started, ready, exited.
    Info,
    /// Also each signal the supervisor passed on.
    Debug,
}

impl Level {
    /// The name lines carry: `error`, `warning`, `info`, `debug`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    /// The syslog severity of the level (RFC 5424 section 6.2.1: 3 err, 4 warning, 6 info,
    /// 7 debug).
    pub fn severity(self) -> u8 {
        match self {
            Level::Error => 3,
            Level::Warning => 4,
            Level::Info => 6,
            Level::Debug => 7,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;

    /// `error`, `warning` (or `warn`), `info`, `debug`.
    fn from_str(s: &str) -> Result<Level, String> {
        match s {
            "error" => Ok(Level::Error),
            "warning" | "warn" => Ok(Level::Warning),
            "info" => Ok(Level::Info),
            "debug" => Ok(Level::Debug),
            _ => Err(format!("{s:?} is not error, warning, info or debug")),
        }
    }
}

/// The value of a field.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number.
    Int(i64),
    /// Text (quoted in logfmt when it holds spaces, quotes or `=`).
    Str(String),
    /// A duration: `0.41s` in text and logfmt, seconds as a number in JSON.
    Secs(Duration),
    /// `true` or `false`.
    Bool(bool),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(i64::from(v))
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Int(v as i64)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Value {
        Value::Int(i64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}

impl From<Duration> for Value {
    fn from(v: Duration) -> Value {
        Value::Secs(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

/// Seconds with at most three decimals and no trailing zeros: `0.41`, `2.1`, `12`.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{:#}", crate::time::Seconds(d, 3))
}

/// One event, ready to be formatted.
///
/// ```
/// use pidward::log::{Level, Record};
///
/// let r = Record::new(Level::Warning, "exited").field("pid", 4301u32).field("code", 1);
/// assert_eq!(r.event(), "exited");
/// assert_eq!(r.level(), Level::Warning);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub(crate) time: SystemTime,
    pub(crate) level: Level,
    pub(crate) event: &'static str,
    pub(crate) fields: Vec<(&'static str, Value)>,
}

impl Record {
    /// An event named `event`, happening now.
    pub fn new(level: Level, event: &'static str) -> Record {
        Record {
            time: SystemTime::now(),
            level,
            event,
            fields: Vec::new(),
        }
    }

    /// With a field added (after those already there).
    pub fn field(mut self, name: &'static str, value: impl Into<Value>) -> Record {
        self.fields.push((name, value.into()));
        self
    }

    /// With a field added when there is a value.
    pub fn maybe(self, name: &'static str, value: Option<impl Into<Value>>) -> Record {
        match value {
            Some(v) => self.field(name, v),
            None => self,
        }
    }

    /// At another time.
    pub fn at(mut self, time: SystemTime) -> Record {
        self.time = time;
        self
    }

    /// The event's name.
    pub fn event(&self) -> &'static str {
        self.event
    }

    /// The level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The value of a field.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_short() {
        assert_eq!(seconds(Duration::from_millis(410)), "0.41");
        assert_eq!(seconds(Duration::from_millis(2100)), "2.1");
        assert_eq!(seconds(Duration::from_secs(12)), "12");
        assert_eq!(seconds(Duration::ZERO), "0");
    }
}
