//! The etcd v3 calls a lock needs, as JSON over etcd's gRPC gateway (`POST /v3/...`).
//!
//! The gateway maps each gRPC method to a path and its messages to JSON with the proto field
//! names; `bytes` fields are base64, 64-bit integers are strings (accepted here as numbers
//! too), and a streaming call's messages arrive one per line, each wrapped in `{"result":..}`.
//! It is on by default in etcd 3.4 and later, on the client port.
//!
//! A [`Client`] holds the endpoints and the one that answered last. A call that cannot reach
//! an endpoint, or that an endpoint answers with "unavailable" (no leader, stopping), moves on
//! to the next, until every endpoint has been tried once or the deadline passes.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use rustix::event::PollFlags;

use serde_json::{Value, json};

use super::base64;
use super::endpoint::Endpoint;
use super::error::{Error, Step};
use super::http;

/// gRPC's UNAVAILABLE: try another endpoint.
const UNAVAILABLE: u64 = 14;
/// `Auth.Authenticate`.
const AUTHENTICATE: &str = "/v3/auth/authenticate";

/// One key as a range answers it.
#[derive(Debug, Clone)]
pub(crate) struct Kv {
    pub(crate) key: String,
    pub(crate) create_revision: i64,
    pub(crate) value: Vec<u8>,
}

/// The endpoints, tried in turn from the last one that answered, and the credentials.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    endpoints: Vec<Endpoint>,
    current: usize,
    credentials: Option<Credentials>,
    /// The auth token `Authenticate` gave, while it is good.
    token: Option<String>,
}

/// A user name and password for etcd's authentication.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) user: String,
    pub(crate) password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({:?}, <password>)", self.user)
    }
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
    pub(crate) fn new(endpoints: Vec<Endpoint>, credentials: Option<Credentials>) -> Client {
        Client {
            endpoints,
            current: 0,
            credentials,
            token: None,
        }
    }

    /// The endpoint calls go to first.
    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoints[self.current]
    }

    /// Open a call: each endpoint once, from the current one, until one answers 200 or the
    /// deadline passes. Returns the open response (for streams).
    fn open<'a>(
        &mut self,
        step: Step,
        path: &str,
        body: &Value,
        deadline: Instant,
        cancel: Option<BorrowedFd<'a>>,
    ) -> Result<http::Response<'a>, Error> {
        let body = body.to_string().into_bytes();
        let n = self.endpoints.len();
        loop {
            let mut last = None;
            for left in (1..=n).rev() {
                // A frozen endpoint must not eat the time of the others: each gets its share.
                let now = Instant::now();
                let share = deadline.saturating_duration_since(now) / left as u32;
                let attempt = if left == 1 { deadline } else { now + share };
                match self.attempt(step, path, &body, attempt, cancel) {
                    Ok(r) => return Ok(r),
                    Err((err, false)) => return Err(err),
                    Err((err, true)) => last = Some(err),
                }
                // Retryable: the next call starts with the next endpoint.
                self.current = (self.current + 1) % n;
            }
            let last = last.expect("at least one endpoint");
            // Every endpoint failed (down, or no leader during an election): try again soon,
            // until the deadline.
            let pause = (Instant::now() + Duration::from_millis(200)).min(deadline);
            if pause >= deadline {
                return Err(last);
            }
            if let Some(c) = cancel {
                let woke = crate::sys::poll_fd_until(c, PollFlags::IN, Some(pause));
                if woke.map_or(true, |r| !r.is_empty()) {
                    return Err(self.unreachable(step, io::ErrorKind::Interrupted.into()));
                }
            } else {
                std::thread::sleep(pause.saturating_duration_since(Instant::now()));
            }
        }
    }

    /// One request to the current endpoint. On error, whether another endpoint (or a later
    /// try) may do better.
    fn attempt<'a>(
        &mut self,
        step: Step,
        path: &str,
        body: &[u8],
        deadline: Instant,
        cancel: Option<BorrowedFd<'a>>,
    ) -> Result<http::Response<'a>, (Error, bool)> {
        if self.token.is_none()
            && let Some(c) = &self.credentials
        {
            let login = json!({ "name": c.user, "password": c.password }).to_string();
            let r = self.attempt_as(
                Step::Authenticate,
                AUTHENTICATE,
                login.as_bytes(),
                None,
                deadline,
                None,
            )?;
            let bytes = r
                .read_all()
                .map_err(|e| (self.unreachable(step, e), true))?;
            let v: Value = serde_json::from_slice(&bytes)
                .map_err(|e| (self.malformed(Step::Authenticate, Some(e)), false))?;
            let token = v["token"].as_str();
            let token = token.ok_or_else(|| (self.malformed(Step::Authenticate, None), false))?;
            self.token = Some(token.to_owned());
        }
        let token = self.token.clone();
        let result = self.attempt_as(step, path, body, token.as_deref(), deadline, cancel);
        if let Err((Error::Server { message, .. }, _)) = &result
            && message.contains("invalid auth token")
        {
            // Expired (etcd's simple tokens do, after a while): log in again next time.
            self.token = None;
            return result.map_err(|(e, _)| (e, true));
        }
        result
    }

    /// One request with this token.
    fn attempt_as<'a>(
        &self,
        step: Step,
        path: &str,
        body: &[u8],
        token: Option<&str>,
        deadline: Instant,
        cancel: Option<BorrowedFd<'a>>,
    ) -> Result<http::Response<'a>, (Error, bool)> {
        let ep = &self.endpoints[self.current];
        let answer = http::post(ep, path, body, token, deadline, cancel).and_then(|r| {
            if r.status == 200 {
                Ok(Ok(r))
            } else {
                let status = r.status;
                r.read_all().map(|b| Err((status, b)))
            }
        });
        match answer {
            Ok(Ok(r)) => Ok(r),
            Ok(Err((status, body))) => {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let message = v["message"].as_str().or(v["error"].as_str());
                let retry = v["code"].as_u64() == Some(UNAVAILABLE) || status == 503;
                let err = Error::Server {
                    endpoint: ep.to_string(),
                    step,
                    status,
                    message: message.unwrap_or("(no message)").to_owned(),
                };
                Err((err, retry))
            }
            Err(source) => {
                let retry = source.kind() != io::ErrorKind::Interrupted;
                let err = Error::Unreachable {
                    endpoint: ep.to_string(),
                    step,
                    source,
                };
                Err((err, retry))
            }
        }
    }

    /// A unary call: its whole answer as JSON.
    fn call(
        &mut self,
        step: Step,
        path: &str,
        body: &Value,
        deadline: Instant,
        cancel: Option<BorrowedFd<'_>>,
    ) -> Result<Value, Error> {
        let r = self.open(step, path, body, deadline, cancel)?;
        let bytes = r
            .read_all()
            .map_err(|source| self.unreachable(step, source))?;
        serde_json::from_slice(&bytes).map_err(|e| self.malformed(step, Some(e)))
    }

    fn unreachable(&self, step: Step, source: io::Error) -> Error {
        Error::Unreachable {
            endpoint: self.endpoint().to_string(),
            step,
            source,
        }
    }

    pub(crate) fn malformed(&self, step: Step, source: Option<serde_json::Error>) -> Error {
        Error::Malformed {
            endpoint: self.endpoint().to_string(),
            step,
            source,
        }
    }

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
