//! The holder record: what a lock key's value says about the process that holds it.
//!
//! pidward writes `{"pid":N,"host":"H","argv":[...],"start":"RFC 3339"}` as the key's value so
//! that a conflict can be reported like a local one (`NAME is locked by PID 3131 on host web2
//! (./backup.sh), running for 4m10s`). Keys written by `etcdctl lock` have an empty value;
//! they are reported by key alone.

use std::fmt;
use std::time::SystemTime;

use serde_json::{Value, json};

/// Who holds (or waits for) a lock: one lock key and what its value says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The full key (`NAME/<lease-hex>` or `NAME/s-<lease-hex>`).
    pub key: String,
    /// The key's create revision (the holder's fencing token).
    pub revision: i64,
    /// The holder's process ID, when its value records one.
    pub pid: Option<u32>,
    /// The host it runs on.
    pub host: Option<String>,
    /// Its command line.
    pub argv: Vec<String>,
    /// When it took the lock (its own clock).
    pub started: Option<SystemTime>,
}

impl Holder {
    /// The record for this process, running `argv`: PID, host name, now.
    pub fn this_process(argv: Vec<String>) -> Holder {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok());
        Holder {
            key: String::new(),
            revision: 0,
            pid: Some(std::process::id()),
            host,
            argv,
            started: Some(SystemTime::now()),
        }
    }

    /// The value written to the key.
    pub(crate) fn to_value(&self) -> Vec<u8> {
        let mut v = json!({ "pid": self.pid, "host": self.host, "argv": self.argv });
        if let Some(t) = self.started {
            v["start"] = Value::String(crate::time::Rfc3339(t).to_string());
        }
        v.to_string().into_bytes()
    }

    /// Read a key and its value (anything but pidward's JSON gives a record with the key only).
    pub(crate) fn from_kv(key: String, revision: i64, value: &[u8]) -> Holder {
        let v: Value = serde_json::from_slice(value).unwrap_or(Value::Null);
        Holder {
            key,
            revision,
            pid: v["pid"].as_u64().and_then(|p| u32::try_from(p).ok()),
            host: v["host"].as_str().map(str::to_owned),
            argv: v["argv"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            started: v["start"]
                .as_str()
                .and_then(|s| crate::time::parse_rfc3339(s).ok()),
        }
    }
}

impl fmt::Display for Holder {
    /// `PID 3131 on host web2 (./backup.sh), running for 4m10s`, or `key NAME/694d…` for a key
    /// whose value says nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(pid) = self.pid else {
            return write!(f, "key {}", self.key);
        };
        write!(f, "PID {pid}")?;
        if let Some(h) = &self.host {
            write!(f, " on host {h}")?;
        }
        if !self.argv.is_empty() {
            write!(f, " ({})", self.argv.join(" "))?;
        }
        if let Some(d) = self.started.and_then(|t| t.elapsed().ok()) {
            write!(f, ", running for {}", crate::time::Human(d))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_round_trips() {
        let me = Holder::this_process(vec!["./backup.sh".into(), "-q".into()]);
        let back = Holder::from_kv("n/1".into(), 7, &me.to_value());
        assert_eq!(back.pid, me.pid);
        assert_eq!(back.argv, me.argv);
        assert!(
            back.to_string()
                .contains("(./backup.sh -q), running for 0s"),
            "{back}"
        );
        let etcdctl = Holder::from_kv("n/694d".into(), 3, b"");
        assert_eq!(etcdctl.to_string(), "key n/694d");
    }
}
