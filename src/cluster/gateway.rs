//! The etcd v3 calls a lock needs, as JSON over etcd's gRPC gateway (`POST /v3/...`).
//!
//! The gateway maps each gRPC method to a path and its messages to JSON with the proto field
//! names; `bytes` fields are base64, 64-bit integers are strings (accepted here as numbers
//! too), and a streaming call's messages arrive one per line, each wrapped in `{"result":..}`.
//! It is on by default in etcd 3.4 and later, on the client port.
//!
//! The calls are methods of [`Client`] (`client.rs`), which moves between endpoints.

use std::os::fd::BorrowedFd;
use std::time::Instant;

use serde_json::{Value, json};

use super::base64;
use super::error::{Error, Step};

pub(crate) use super::client::{Client, Credentials};

/// One key as a range answers it.
#[derive(Debug, Clone)]
pub(crate) struct Kv {
    pub(crate) key: String,
    pub(crate) create_revision: i64,
    pub(crate) value: Vec<u8>,
}

/// An int64 field, as a string or a number; absent means 0 (proto3 default).
pub(crate) fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// The key just past every key that starts with `prefix` (etcd's `GetPrefixRangeEnd`).
pub(crate) fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

impl Client {
    /// `LeaseGrant`: a new lease of `ttl` seconds; its ID.
    pub(crate) fn grant(&mut self, ttl: u64, deadline: Instant) -> Result<i64, Error> {
        let v = self.call(
            Step::Grant,
            "/v3/lease/grant",
            &json!({ "TTL": ttl }),
            deadline,
            None,
        )?;
        match int(&v["ID"]) {
            0 => Err(self.malformed(Step::Grant, None)),
            id => Ok(id),
        }
    }

    /// One `LeaseKeepAlive` round: the TTL the lease now has (0: it is gone).
    pub(crate) fn keep_alive(
        &mut self,
        lease: i64,
        deadline: Instant,
        cancel: Option<BorrowedFd<'_>>,
    ) -> Result<i64, Error> {
        let step = Step::KeepAlive;
        let body = json!({ "ID": lease.to_string() });
        let mut r = self.open(step, "/v3/lease/keepalive", &body, deadline, cancel)?;
        let msg = r
            .next_message()
            .map_err(|e| self.unreachable(step, e))?
            .ok_or_else(|| self.malformed(step, None))?;
        let v: Value = serde_json::from_slice(&msg).map_err(|e| self.malformed(step, Some(e)))?;
        if let Some(e) = v.get("error") {
            let message = e["message"].as_str().unwrap_or("(no message)").to_owned();
            return Err(Error::Server {
                endpoint: self.endpoint().to_string(),
                step,
                status: 200,
                message,
            });
        }
        Ok(int(&v["result"]["TTL"]))
    }

    /// `LeaseRevoke`: delete the lease and every key attached to it. A lease already gone
    /// counts as revoked.
    pub(crate) fn revoke(&mut self, lease: i64, deadline: Instant) -> Result<(), Error> {
        let body = json!({ "ID": lease.to_string() });
        match self.call(Step::Revoke, "/v3/lease/revoke", &body, deadline, None) {
            Err(Error::Server { message, .. }) if message.contains("lease not found") => Ok(()),
            r => r.map(drop),
        }
    }

    /// `Txn`: create `key` with `value` on `lease` unless it exists; its create revision.
    pub(crate) fn create(
        &mut self,
        key: &str,
        value: &[u8],
        lease: i64,
        deadline: Instant,
    ) -> Result<i64, Error> {
        let k = base64::encode(key.as_bytes());
        let body = json!({
            "compare": [{ "target": "CREATE", "result": "EQUAL", "key": k, "create_revision": "0" }],
            "success": [{ "request_put": {
                "key": k, "value": base64::encode(value), "lease": lease.to_string() } }],
            "failure": [{ "request_range": { "key": k } }],
        });
        let v = self.call(Step::Create, "/v3/kv/txn", &body, deadline, None)?;
        if v["succeeded"].as_bool() == Some(true) {
            return Ok(int(&v["header"]["revision"]));
        }
        let kvs = &v["responses"][0]["response_range"]["kvs"];
        match int(&kvs[0]["create_revision"]) {
            0 => Err(self.malformed(Step::Create, None)),
            rev => Ok(rev),
        }
    }

    /// `Range` over `[key, end)` (just `key` when `end` is `None`), created at or before
    /// `max_create` when not 0, sorted by create revision, at most `limit` keys (0: all).
    /// Returns the keys and the header revision.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn range(
        &mut self,
        key: &str,
        end: Option<&[u8]>,
        max_create: i64,
        descending: bool,
        limit: i64,
        deadline: Instant,
        cancel: Option<BorrowedFd<'_>>,
    ) -> Result<(Vec<Kv>, i64), Error> {
        let mut body = json!({
            "key": base64::encode(key.as_bytes()),
            "sort_target": "CREATE",
            "sort_order": if descending { "DESCEND" } else { "ASCEND" },
            "limit": limit.to_string(),
        });
        if let Some(end) = end {
            body["range_end"] = Value::String(base64::encode(end));
        }
        if max_create > 0 {
            body["max_create_revision"] = Value::String(max_create.to_string());
        }
        let v = self.call(Step::Range, "/v3/kv/range", &body, deadline, cancel)?;
        let mut kvs = Vec::new();
        for kv in v["kvs"].as_array().into_iter().flatten() {
            let key = kv["key"].as_str().and_then(base64::decode);
            let value = base64::decode(kv["value"].as_str().unwrap_or(""));
            let (Some(key), Some(value)) = (key, value) else {
                return Err(self.malformed(Step::Range, None));
            };
            kvs.push(Kv {
                key: String::from_utf8_lossy(&key).into_owned(),
                create_revision: int(&kv["create_revision"]),
                value,
            });
        }
        Ok((kvs, int(&v["header"]["revision"])))
    }

    /// `Watch` `key` from revision `from` until it is deleted. `Ok(true)`: deleted;
    /// `Ok(false)`: the watch ended without it (cancelled, compacted): look again.
    pub(crate) fn wait_deleted(
        &mut self,
        key: &str,
        from: i64,
        deadline: Instant,
        cancel: Option<BorrowedFd<'_>>,
    ) -> Result<bool, Error> {
        let step = Step::Watch;
        let body = json!({ "create_request": {
            "key": base64::encode(key.as_bytes()), "start_revision": from.to_string() } });
        let mut r = self.open(step, "/v3/watch", &body, deadline, cancel)?;
        loop {
            let Some(msg) = r.next_message().map_err(|e| self.unreachable(step, e))? else {
                return Ok(false);
            };
            let v: Value =
                serde_json::from_slice(&msg).map_err(|e| self.malformed(step, Some(e)))?;
            let result = &v["result"];
            if v.get("error").is_some() || result["canceled"].as_bool() == Some(true) {
                return Ok(false);
            }
            let events = result["events"].as_array().into_iter().flatten();
            if events
                .into_iter()
                .any(|e| e["type"].as_str() == Some("DELETE"))
            {
                return Ok(true);
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end("a/"), b"a0");
        assert_eq!(prefix_end("a\u{7f}"), [b'a', 0x80]);
        assert_eq!(int(&json!("12")), 12);
        assert_eq!(int(&json!(12)), 12);
        assert_eq!(int(&Value::Null), 0);
    }
}
