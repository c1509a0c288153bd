//! Endpoints as `etcdctl --endpoints` takes them: `http://HOST:PORT`, `https://HOST:PORT`,
//! `HOST:PORT` or `HOST` (port 2379), IPv6 hosts in brackets, comma-separated lists.
//!
//! The scheme says whether to speak TLS; an endpoint without one speaks TLS when TLS options
//! are given ([`Options::tls`](super::Options::tls)), as etcdctl's do with `--cacert`.

use std::fmt;

use super::error::{EndpointProblem, Error};

/// One etcd client URL, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `https://` (true), `http://` (false), or no scheme.
    pub(crate) tls: Option<bool>,
}

impl Endpoint {
    /// Parse one endpoint.
    ///
    /// ```
    /// use pidward::cluster::Endpoint;
    ///
    /// assert_eq!(Endpoint::parse("http://127.0.0.1:2379")?.to_string(), "127.0.0.1:2379");
    /// assert_eq!(Endpoint::parse("etcd1")?.to_string(), "etcd1:2379");
    /// assert_eq!(Endpoint::parse("https://etcd1")?.to_string(), "https://etcd1:2379");
    /// assert!(Endpoint::parse("unix://etcd.sock").is_err());
    /// # Ok::<(), pidward::cluster::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Endpoint, Error> {
        let fail = |problem| Error::InvalidEndpoint {
            endpoint: text.to_owned(),
            problem,
        };
        let t = text.trim();
        let (tls, t) = if let Some(rest) = t.strip_prefix("https://") {
            (Some(true), rest)
        } else if let Some(rest) = t.strip_prefix("http://") {
            (Some(false), rest)
        } else {
            (None, t)
        };
        let t = t.strip_suffix('/').unwrap_or(t);
        if t.contains("://") || t.contains('/') {
            return Err(fail(EndpointProblem::Scheme));
        }
        let (host, port) = if let Some(rest) = t.strip_prefix('[') {
            let (h, after) = rest.split_once(']').ok_or(fail(EndpointProblem::Host))?;
            (h, after.strip_prefix(':'))
        } else if t.matches(':').count() == 1 {
            let (h, p) = t.split_once(':').unwrap_or((t, ""));
            (h, Some(p))
        } else {
            (t, None)
        };
        let valid_host = |h: &str| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
        };
        if !valid_host(host) {
            return Err(fail(EndpointProblem::Host));
        }
        let port = match port {
            None => 2379,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(fail(EndpointProblem::Port)),
            },
        };
        Ok(Endpoint {
            host: host.to_owned(),
            port,
            tls,
        })
    }

    /// Parse a comma-separated list (empty items skipped; at least one required).
    pub fn parse_list(text: &str) -> Result<Vec<Endpoint>, Error> {
        let list = text
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Endpoint::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err(Error::InvalidEndpoint {
                endpoint: text.to_owned(),
                problem: EndpointProblem::Empty,
            });
        }
        Ok(list)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tls == Some(true) {
            f.write_str("https://")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = |s| Endpoint::parse(s).map(|e| e.to_string());
        assert_eq!(p("http://h:1/").unwrap(), "h:1");
        assert_eq!(p("[::1]:5").unwrap(), "[::1]:5");
        assert_eq!(p("[::1]").unwrap(), "[::1]:2379");
        assert_eq!(p("https://[::1]:5/").unwrap(), "https://[::1]:5");
        for bad in [
            "",
            "h:0",
            "h:x",
            "ftp://h",
            "h/x",
            "h:70000",
            "a b",
            "unixs://h",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert_eq!(Endpoint::parse_list("a:1,,b").unwrap().len(), 2);
        assert!(Endpoint::parse_list(" , ").is_err());
    }
}
