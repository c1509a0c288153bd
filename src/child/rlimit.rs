//! Resource limits: `NAME=SOFT[:HARD]`, as `prlimit(1)` and systemd's `Limit*=` spell them.
//!
//! A [`Rlimit`] is parsed and checked in the caller (before any fork) and applied by the
//! child set-up with one `prlimit64(2)` call. A single value sets both limits, as
//! `prlimit --nofile=64` and `LimitNOFILE=64` do; `unlimited` (or `infinity`) lifts a limit.

use std::fmt;
use std::str::FromStr;

/// A resource whose limit can be set (`RLIMIT_*`), named as in `prlimit(1)` without dashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resource {
    name: &'static str,
    raw: libc::__rlimit_resource_t,
}

const RESOURCES: &[(&str, libc::__rlimit_resource_t)] = &[
    ("as", libc::RLIMIT_AS),
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

macro_rules! resources {
    ($($konst:ident $name:literal $raw:ident: $doc:literal;)*) => {
        impl Resource {
            $(
                #[doc = concat!("`", stringify!($raw), "`: ", $doc)]
                pub const $konst: Resource = Resource { name: $name, raw: libc::$raw };
            )*
        }
    };
}

resources! {
    AS "as" RLIMIT_AS: "the address space, in bytes.";
    CORE "core" RLIMIT_CORE: "the size of core dumps, in bytes.";
    CPU "cpu" RLIMIT_CPU: "CPU time, in seconds.";
    DATA "data" RLIMIT_DATA: "the data segment, in bytes.";
    FSIZE "fsize" RLIMIT_FSIZE: "the size of files written, in bytes.";
    MEMLOCK "memlock" RLIMIT_MEMLOCK: "locked memory, in bytes.";
    NOFILE "nofile" RLIMIT_NOFILE: "the number of open file descriptors.";
    NPROC "nproc" RLIMIT_NPROC: "the number of processes of the real user.";
    STACK "stack" RLIMIT_STACK: "the stack size, in bytes.";
}

impl Resource {
    /// The resource's name: `nofile`, `core`, `as`...
    pub fn name(self) -> &'static str {
        self.name
    }

    /// The `RLIMIT_*` constant.
    pub fn as_raw(self) -> libc::__rlimit_resource_t {
        self.raw
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl FromStr for Resource {
    type Err = RlimitParseError;

    /// Parses `nofile`, `NOFILE`, `RLIMIT_NOFILE`...
    fn from_str(s: &str) -> Result<Resource, RlimitParseError> {
        let lower = s.to_ascii_lowercase();
        let name = lower.strip_prefix("rlimit_").unwrap_or(&lower);
        RESOURCES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(name, raw)| Resource { name, raw })
            .ok_or_else(|| RlimitParseError(format!("unknown resource {s:?} (known: {})", known())))
    }
}

fn known() -> String {
    RESOURCES
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A soft and hard limit for one resource. `None` is unlimited (`RLIM_INFINITY`).
///
/// ```
/// use pidward::child::{Resource, Rlimit};
///
/// let l: Rlimit = "nofile=64".parse()?;
/// assert_eq!((l.resource(), l.soft(), l.hard()), (Resource::NOFILE, Some(64), Some(64)));
/// let l: Rlimit = "core=0:unlimited".parse()?;
/// assert_eq!((l.soft(), l.hard()), (Some(0), None));
/// assert!("nofile=100:10".parse::<Rlimit>().is_err()); // soft above hard
/// assert!("files=10".parse::<Rlimit>().is_err());
/// # Ok::<(), pidward::child::RlimitParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    resource: Resource,
    soft: Option<u64>,
    hard: Option<u64>,
}

impl Rlimit {
    /// A limit; `None` means unlimited. Fails when the soft limit exceeds the hard one.
    pub fn new(
        resource: Resource,
        soft: Option<u64>,
        hard: Option<u64>,
    ) -> Result<Rlimit, RlimitParseError> {
        if let (Some(s), Some(h)) = (soft, hard) {
            if s > h {
                return Err(RlimitParseError(format!(
                    "{resource}: soft limit {s} is above the hard limit {h}"
                )));
            }
        } else if soft.is_none() && hard.is_some() {
            return Err(RlimitParseError(format!(
                "{resource}: an unlimited soft limit is above the hard limit"
            )));
        }
        Ok(Rlimit {
            resource,
            soft,
            hard,
        })
    }

    /// The resource.
    pub fn resource(&self) -> Resource {
        self.resource
    }

    /// The soft limit (`None`: unlimited).
    pub fn soft(&self) -> Option<u64> {
        self.soft
    }

    /// The hard limit (`None`: unlimited).
    pub fn hard(&self) -> Option<u64> {
        self.hard
    }

    /// The resource and the kernel's `struct rlimit64` (soft, hard), for the child set-up.
    pub(crate) fn as_raw(&self) -> (libc::__rlimit_resource_t, [u64; 2]) {
        let raw = |v: Option<u64>| v.unwrap_or(libc::RLIM_INFINITY);
        (self.resource.raw, [raw(self.soft), raw(self.hard)])
    }
}

impl fmt::Display for Rlimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: Option<u64>| v.map_or("unlimited".to_owned(), |v| v.to_string());
        write!(
            f,
            "{}={}:{}",
            self.resource,
            show(self.soft),
            show(self.hard)
        )
    }
}

impl FromStr for Rlimit {
    type Err = RlimitParseError;

    /// Parses `NAME=VALUE` (both limits) or `NAME=SOFT:HARD`; a value is a number or
    /// `unlimited`/`infinity`.
    fn from_str(s: &str) -> Result<Rlimit, RlimitParseError> {
        let (name, value) = s
            .split_once('=')
            .ok_or_else(|| RlimitParseError(format!("{s:?} is not NAME=SOFT[:HARD]")))?;
        let resource: Resource = name.trim().parse()?;
        let number = |v: &str| -> Result<Option<u64>, RlimitParseError> {
            match v.trim() {
                "unlimited" | "infinity" => Ok(None),
                // Plain decimal only (no sign); the kernel's RLIM_INFINITY is unlimited
                // whatever it is called.
                n => n
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| n.parse::<u64>().ok())
                    .flatten()
                    .map(|v| (v != libc::RLIM_INFINITY).then_some(v))
                    .ok_or_else(|| {
                        RlimitParseError(format!(
                            "{resource}: {n:?} is not a number or \"unlimited\""
                        ))
                    }),
            }
        };
        let (soft, hard) = match value.split_once(':') {
            Some((soft, hard)) => (number(soft)?, number(hard)?),
            None => {
                let v = number(value)?;
                (v, v)
            }
        };
        Rlimit::new(resource, soft, hard)
    }
}

/// A resource limit that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid resource limit: {0}")]
pub struct RlimitParseError(String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_plain_decimal_and_infinity_is_unlimited() {
        // Found by fuzz/fuzz_targets/rlimit_spec.rs: "nofile=+96" was accepted.
        for bad in ["nofile=+96", "nofile=-1", "nofile=1:+2", "nofile=0x10"] {
            assert!(bad.parse::<Rlimit>().is_err(), "{bad}");
        }
        let r: Rlimit = "nofile=1024:18446744073709551615".parse().unwrap();
        assert_eq!((r.soft(), r.hard()), (Some(1024), None));
        assert_eq!(r.to_string(), "nofile=1024:unlimited");
        let r: Rlimit = "core=18446744073709551615:unlimited".parse().unwrap();
        assert_eq!(r.to_string().parse::<Rlimit>().unwrap(), r);
    }
}
