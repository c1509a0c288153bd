//! `cluster::Error`: what can go wrong taking, keeping and releasing a cluster lock.

use std::fmt;
use std::io;

use super::holder::Holder;
use super::keeper::Loss;
use super::tls::{CertFile, CertProblem};

/// The call to etcd that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// `LeaseGrant`: creating the lease.
    Grant,
    /// `LeaseKeepAlive`: renewing it.
    KeepAlive,
    /// `LeaseRevoke`: releasing it.
    Revoke,
    /// `Txn`: creating the lock key if absent.
    Create,
    /// `Range`: reading keys.
    Range,
    /// `Watch`: waiting for the key ahead to go.
    Watch,
    /// `Authenticate`: logging in with a user name and password.
    Authenticate,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Grant => "granting a lease",
            Step::KeepAlive => "renewing the lease",
            Step::Revoke => "revoking the lease",
            Step::Create => "creating the lock key",
            Step::Range => "reading the lock keys",
            Step::Watch => "watching the key ahead",
            Step::Authenticate => "logging in",
        })
    }
}

/// What is wrong with an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointProblem {
    /// No endpoint given.
    Empty,
    /// A scheme other than `http://` and `https://`, or a path.
    Scheme,
    /// Missing or malformed host.
    Host,
    /// Port not in 1..=65535.
    Port,
}

impl fmt::Display for EndpointProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndpointProblem::Empty => "no endpoint given",
            EndpointProblem::Scheme => "expected http(s)://HOST:PORT, HOST:PORT or HOST",
            EndpointProblem::Host => "missing or malformed host",
            EndpointProblem::Port => "port must be 1-65535",
        })
    }
}

/// What is wrong with a lock name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// The name contains a control character.
    Control,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameProblem::Empty => "it is empty",
            NameProblem::Control => "it contains a control character",
        })
    }
}

/// Errors of [`Lock::acquire`](super::Lock::acquire) and [`Lock::release`](super::Lock::release).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An endpoint could not be parsed.
    #[error("invalid etcd endpoint {endpoint:?}: {problem}")]
    InvalidEndpoint {
        /// The text given.
        endpoint: String,
        /// What is wrong with it.
        problem: EndpointProblem,
    },
    /// The lock name is not usable.
    #[error("invalid lock name {name:?}: {problem}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// A TLS file (CA certificates, client certificate or key) cannot be used.
    #[error("{file} {path:?}: {problem}")]
    Certificate {
        /// Which file.
        file: CertFile,
        /// Its path.
        path: std::path::PathBuf,
        /// What is wrong with it.
        problem: CertProblem,
    },
    /// TLS with an endpoint failed: its certificate is not trusted, not valid for its host
    /// or not valid now, or it refused ours (or asked for one and got none).
    #[error("TLS with etcd at {endpoint} failed ({step})")]
    Tls {
        /// The endpoint.
        endpoint: String,
        /// The call being made.
        step: Step,
        /// rustls's error, in an [`io::Error`] of kind `InvalidData`.
        #[source]
        source: io::Error,
    },
    /// No endpoint could be reached (connect, send or answer failed or timed out); the last
    /// endpoint tried and its error.
    #[error("cannot reach etcd at {endpoint} ({step})")]
    Unreachable {
        /// The endpoint tried last.
        endpoint: String,
        /// The call being made.
        step: Step,
        /// The transport error (`TimedOut` when the deadline passed).
        #[source]
        source: io::Error,
    },
    /// etcd answered with an error (`etcdserver: no leader`, a permission error...).
    #[error("etcd at {endpoint} failed {step}: {message}")]
    Server {
        /// The endpoint that answered.
        endpoint: String,
        /// The call being made.
        step: Step,
        /// The HTTP status.
        status: u16,
        /// etcd's message.
        message: String,
    },
    /// The answer was not the JSON etcd's gateway sends.
    #[error("malformed answer from etcd at {endpoint} {step}")]
    Malformed {
        /// The endpoint that answered.
        endpoint: String,
        /// The call being made.
        step: Step,
        /// The JSON error, if the answer did not parse at all.
        #[source]
        source: Option<serde_json::Error>,
    },
    /// The lock is held and no waiting was allowed.
    #[error("{name} is locked by {holder}")]
    Locked {
        /// The lock name.
        name: String,
        /// Who holds it.
        holder: Box<Holder>,
    },
    /// The deadline passed while waiting.
    #[error("timed out waiting for {name}")]
    TimedOut {
        /// The lock name.
        name: String,
        /// Who held it then, when known.
        holder: Option<Box<Holder>>,
    },
    /// The lease was lost before the lock was acquired (it expired, or its key was deleted).
    #[error("the lease was lost while waiting: {0}")]
    LostWhileWaiting(Loss),
    /// Starting the lease keeper (its pipes or its thread) failed.
    #[error("cannot start the lease keeper")]
    Keeper(#[source] io::Error),
}

impl Error {
    /// Whether this is an etcd-side failure (unreachable, TLS refused, error answer,
    /// malformed answer, lease lost while waiting) rather than bad input or a held lock.
    pub fn is_cluster_failure(&self) -> bool {
        matches!(
            self,
            Error::Unreachable { .. }
                | Error::Tls { .. }
                | Error::Server { .. }
                | Error::Malformed { .. }
                | Error::LostWhileWaiting(_)
        )
    }
}
