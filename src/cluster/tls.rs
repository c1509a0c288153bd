//! [`Tls`]: what `https://` endpoints are verified against, and the client certificate.
//!
//! etcd's TLS is ordinary server TLS plus, with `--client-cert-auth`, a client certificate
//! that its CA signed. `etcdctl` takes the same three files (`--cacert`, `--cert`, `--key`)
//! and so does [`Tls`]: PEM certificates and a PEM private key (PKCS#8, PKCS#1 or SEC1).
//! Every file is read and checked when it is given, so that a missing file, a file without a
//! certificate or a key that does not belong to the certificate is an [`Error::Certificate`]
//! naming the path before anything is sent. Without a CA file, the server is verified against
//! the system's CA certificates (`SSL_CERT_FILE`, else the distribution's bundle).
//!
//! The TLS itself is rustls with its `ring` provider (TLS 1.3 and 1.2), driven by the
//! blocking, deadline-bound transport in `conn.rs`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::ClientConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};

use super::error::Error;

/// Where the system's CA certificates are, when `SSL_CERT_FILE` does not say (Debian and
/// derivatives, Fedora and RHEL, openSUSE, Alpine and others).
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Which of the TLS files a [`CertProblem`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertFile {
    /// The CA certificates the server's certificate must chain to (`--cacert`).
    Ca,
    /// The client certificate (`--cert`).
    Cert,
    /// The client certificate's private key (`--key`).
    Key,
}

impl fmt::Display for CertFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertFile::Ca => "CA certificate file",
            CertFile::Cert => "client certificate file",
            CertFile::Key => "client key file",
        })
    }
}

/// What is wrong with a TLS file.
#[derive(Debug)]
#[non_exhaustive]
pub enum CertProblem {
    /// It cannot be read.
    Unreadable(io::Error),
    /// It holds no PEM certificate (or no key, for a key file).
    Empty,
    /// It is not valid PEM, or what it holds cannot be used (the parser's words).
    Invalid(String),
    /// The key is not the certificate's.
    KeyMismatch,
}

impl fmt::Display for CertProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertProblem::Unreadable(e) => write!(f, "cannot read it: {e}"),
            CertProblem::Empty => f.write_str("it holds no PEM certificate or key"),
            CertProblem::Invalid(why) => write!(f, "unusable: {why}"),
            CertProblem::KeyMismatch => f.write_str("the key does not belong to the certificate"),
        }
    }
}

/// How `https://` endpoints are verified, and the client certificate to show them.
///
/// ```no_run
/// use pidward::cluster::{Endpoint, Options, Tls};
///
/// let tls = Tls::new()
///     .ca_file("/etc/etcd/ca.pem")?
///     .client_cert("/etc/etcd/client.pem", "/etc/etcd/client-key.pem")?;
/// let opts = Options::new(Endpoint::parse_list("https://etcd1:2379,https://etcd2:2379")?)
///     .tls(tls);
/// # drop(opts);
/// # Ok::<(), pidward::cluster::Error>(())
/// ```
#[derive(Clone)]
pub struct Tls {
    roots: Option<Arc<RootCertStore>>,
    client: Option<Arc<CertifiedKey>>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("ca_certificates", &self.roots.as_ref().map(|r| r.len()))
            .field("client_cert", &self.client.is_some())
            .finish()
    }
}

impl Default for Tls {
    fn default() -> Tls {
        Tls::new()
    }
}

/// The crypto provider: rustls's `ring`.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn fail(file: CertFile, path: &Path, problem: CertProblem) -> Error {
    Error::Certificate {
        file,
        path: path.to_owned(),
        problem,
    }
}

/// A file's bytes.
fn read(file: CertFile, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| fail(file, path, CertProblem::Unreadable(e)))
}

/// Every certificate of a PEM file (at least one).
fn certificates(file: CertFile, path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bytes = read(file, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| fail(file, path, CertProblem::Invalid(e.to_string())))?;
    if certs.is_empty() {
        return Err(fail(file, path, CertProblem::Empty));
    }
    Ok(certs)
}

impl Tls {
    /// Verify servers against the system's CA certificates; no client certificate.
    pub fn new() -> Tls {
        Tls {
            roots: None,
            client: None,
        }
    }

    /// Verify servers against the CA certificates in this PEM file only (`etcdctl --cacert`).
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Result<Tls, Error> {
        let path = path.as_ref();
        let mut roots = RootCertStore::empty();
        for cert in certificates(CertFile::Ca, path)? {
            roots
                .add(cert)
                .map_err(|e| fail(CertFile::Ca, path, CertProblem::Invalid(e.to_string())))?;
        }
        self.roots = Some(Arc::new(roots));
        Ok(self)
    }

    /// Show servers this certificate (chain) and its private key, both PEM files
    /// (`etcdctl --cert --key`).
    pub fn client_cert(
        mut self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Tls, Error> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let chain = certificates(CertFile::Cert, cert)?;
        let bytes = read(CertFile::Key, key)?;
        let der = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
            let problem = match e {
                pem::Error::NoItemsFound => CertProblem::Empty,
                e => CertProblem::Invalid(e.to_string()),
            };
            fail(CertFile::Key, key, problem)
        })?;
        let certified = CertifiedKey::from_der(chain, der, &provider()).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                fail(CertFile::Key, key, CertProblem::KeyMismatch)
            }
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                fail(CertFile::Cert, cert, CertProblem::Invalid(e.to_string()))
            }
            e => fail(CertFile::Key, key, CertProblem::Invalid(e.to_string())),
        })?;
        self.client = Some(Arc::new(certified));
        Ok(self)
    }

    /// The rustls configuration: the roots (the system's, read now, when no CA file was
    /// given) and the client certificate.
    pub(crate) fn config(&self) -> Result<Arc<ClientConfig>, Error> {
        let roots = match &self.roots {
            Some(r) => r.clone(),
            None => Arc::new(system_roots()?),
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring has cipher suites for TLS 1.3 and 1.2")
            .with_root_certificates(roots);
        let config = match &self.client {
            Some(key) => builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(
                CertifiedKey::clone(key),
            ))),
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

/// The system's CA certificates: `$SSL_CERT_FILE`, else the first bundle that exists.
/// Certificates the parser refuses are skipped, as every TLS client does with a bundle.
fn system_roots() -> Result<RootCertStore, Error> {
    let path = match std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => SYSTEM_BUNDLES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(SYSTEM_BUNDLES[0])),
    };
    let mut roots = RootCertStore::empty();
    let certs = certificates(CertFile::Ca, &path)?;
    roots.add_parsable_certificates(certs);
    Ok(roots)
}
