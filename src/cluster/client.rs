//! The client's transport: the endpoints, tried in turn, and etcd's authentication.
//!
//! A [`Client`] holds the endpoints and the one that answered last. A call that cannot reach
//! an endpoint, or that an endpoint answers with "unavailable" (no leader, stopping), moves on
//! to the next, each endpoint getting its share of the time left, and starts over after a short
//! pause until the deadline passes. With credentials, the first call logs in
//! (`Auth.Authenticate`) and every call carries the token; a token etcd calls invalid is
//! dropped and the call retried.
//!
//! An endpoint whose TLS fails (a certificate not trusted, or ours refused) is skipped like
//! an unreachable one, but a round that met such a failure ends the call with it rather than
//! start over: retrying cannot change a certificate, and the failure says what to fix.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::PollFlags;
use rustls::client::ClientConfig;
use serde_json::{Value, json};

use super::endpoint::Endpoint;
use super::error::{Error, Step};
use super::resolve::Resolver;
use super::{conn, http};

/// gRPC's UNAVAILABLE: try another endpoint.
const UNAVAILABLE: u64 = 14;
/// `Auth.Authenticate`.
const AUTHENTICATE: &str = "/v3/auth/authenticate";

/// The endpoints, tried in turn from the last one that answered, and the credentials.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    endpoints: Vec<Endpoint>,
    current: usize,
    credentials: Option<Credentials>,
    /// The auth token `Authenticate` gave, while it is good.
    token: Option<String>,
    /// TLS for `https://` endpoints (and those without a scheme, when given).
    tls: Option<Arc<ClientConfig>>,
    /// Host names looked up so far (shared with the clones).
    resolver: Resolver,
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

impl Client {
    pub(crate) fn new(
        endpoints: Vec<Endpoint>,
        credentials: Option<Credentials>,
        tls: Option<Arc<ClientConfig>>,
    ) -> Client {
        Client {
            endpoints,
            current: 0,
            credentials,
            token: None,
            tls,
            resolver: Resolver::default(),
        }
    }

    /// The endpoint calls go to first.
    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoints[self.current]
    }

    /// Open a call: each endpoint once, from the current one, until one answers 200 or the
    /// deadline passes. Returns the open response (for streams).
    pub(crate) fn open<'a>(
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
            let mut tls_failure = None;
            for left in (1..=n).rev() {
                // A frozen endpoint must not eat the time of the others: each gets its share.
                let now = Instant::now();
                let share = deadline.saturating_duration_since(now) / left as u32;
                let attempt = if left == 1 { deadline } else { now + share };
                match self.attempt(step, path, &body, attempt, cancel) {
                    Ok(r) => return Ok(r),
                    Err((err, false)) => return Err(err),
                    Err((err @ Error::Tls { .. }, true)) => tls_failure = Some(err),
                    Err((err, true)) => last = Some(err),
                }
                // Retryable: the next call starts with the next endpoint.
                self.current = (self.current + 1) % n;
            }
            if let Some(err) = tls_failure {
                return Err(err);
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
        let tls = match ep.tls {
            Some(false) => None,
            _ => self.tls.as_ref(),
        };
        let answer = conn::connect(ep, tls, &self.resolver, deadline, cancel)
            .and_then(|c| http::post(c, ep, path, body, token, deadline, cancel));
        let answer = answer.and_then(|r| {
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
            Err(source) if is_tls(&source) => Err((
                Error::Tls {
                    endpoint: ep.to_string(),
                    step,
                    source: explain(
                        source,
                        tls.is_some_and(|t| t.client_auth_cert_resolver.has_certs()),
                    ),
                },
                true,
            )),
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
    pub(crate) fn call(
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

    pub(crate) fn unreachable(&self, step: Step, source: io::Error) -> Error {
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
}

/// A TLS failure in words that say what to fix.
fn explain(e: io::Error, client_cert: bool) -> io::Error {
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return e;
    };
    let hint = match tls {
        rustls::Error::AlertReceived(_) if client_cert => {
            "etcd refused the connection: it does not accept our client certificate"
        }
        rustls::Error::AlertReceived(_) => {
            "etcd refused the connection: it wants a client certificate"
        }
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
            "etcd's certificate is not signed by a CA we trust"
        }
        _ => return e,
    };
    io::Error::new(e.kind(), format!("{tls}: {hint}"))
}

/// Whether a transport error is a TLS failure (`conn.rs` keeps rustls's error whole).
fn is_tls(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}
