//! Certificates for an etcd with TLS and client-certificate authentication, made with the
//! `openssl` command (Debian's `openssl`) in a temp dir: two CAs (ours and a stranger's), a
//! server certificate for `127.0.0.1` only, and client certificates (good, signed by the
//! stranger, expired).

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// The files, in a temp dir that lives as long as this.
pub struct Certs {
    pub dir: TempDir,
}

/// A client certificate and its key.
pub struct Client {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("openssl: {e}: these tests need the openssl command (apt-get install openssl)")
        });
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// A P-256 key and a certificate request for `cn`: `NAME.key`, `NAME.csr`.
fn request(dir: &Path, name: &str, cn: &str) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let subj = format!("/CN={cn}");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &subj,
        ],
    );
}

/// A self-signed CA: `NAME.pem`, `NAME.key`.
fn ca(dir: &Path, name: &str) {
    let key = format!("{name}.key");
    let pem = format!("{name}.pem");
    let subj = format!("/CN={name}");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &subj,
        ],
    );
}

/// Sign `NAME.csr` with CA `by` for `days` with the extensions `ext`: `NAME.pem`.
fn sign(dir: &Path, name: &str, by: &str, days: &str, ext: &str) {
    let ext_file = format!("{name}.ext");
    std::fs::write(dir.join(&ext_file), ext).unwrap();
    let (csr, pem) = (format!("{name}.csr"), format!("{name}.pem"));
    let (ca, ca_key) = (format!("{by}.pem"), format!("{by}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            days,
            "-extfile",
            &ext_file,
        ],
    );
}

impl Certs {
    /// Make them all (a fraction of a second).
    pub fn new() -> Certs {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        ca(d, "ca");
        ca(d, "stranger");
        // etcd's gateway dials etcd's own gRPC port with the server certificate, which it
        // then presents as a client: it needs both usages.
        request(d, "server", "etcd");
        sign(
            d,
            "server",
            "ca",
            "2",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
        );
        for (name, by, days) in [
            ("client", "ca", "2"),
            ("foreign", "stranger", "2"),
            ("expired", "ca", "0"),
        ] {
            request(d, name, "root");
            sign(d, name, by, days, "extendedKeyUsage=clientAuth\n");
        }
        Certs { dir }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// Our CA's certificate.
    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// The client certificate `name` (`client`, `foreign`, `expired`) and its key.
    pub fn client(&self, name: &str) -> Client {
        Client {
            cert: self.path(&format!("{name}.pem")),
            key: self.path(&format!("{name}.key")),
        }
    }
}
