//! `getopt_long(3)` as glibc implements it with a `"+"` option string: the argument grammar of
//! flock(1), written once so that every option of `pidward lock` is read the same way.
//!
//! * Options come first: scanning stops at the first operand (no permutation, the `+`), or
//!   after a `--`, which is consumed. A lone `-` is an operand.
//! * Short options cluster (`-nx`); one that takes a value takes the rest of its cluster
//!   (`-w5`) or else the next argument, whatever it looks like (`-w -1`).
//! * Long options take a value as `--name=value` or `--name value`, and may be abbreviated to
//!   any unambiguous prefix (`--nonb`). An exact name wins over longer ones it prefixes (`--nb`);
//!   a prefix of several names is ambiguous unless they all mean the same option, or unless
//!   only one of them is a primary option: an extension's name never makes a primary option's
//!   abbreviation ambiguous (`--t` stays `--timeout` next to `--ttl`).
//! * Every occurrence is reported in order, so a later one overrides an earlier one.
//!
//! The parser reports what it sees ([`Event`]) and decides nothing: the caller maps each
//! option to its meaning and each anomaly to its message.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// Whether an option takes a value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HasArg {
    No,
    Required,
}

/// One option: its spellings and what it means to the caller.
#[derive(Clone, Copy, Debug)]
pub struct Spec<T> {
    /// The short letter, if it has one.
    pub short: Option<u8>,
    /// The long name, if it has one (without `--`).
    pub long: Option<&'static str>,
    pub has_arg: HasArg,
    pub id: T,
    /// One of the options being emulated (flock's), which abbreviations favour.
    pub primary: bool,
}

/// What the next argument (or cluster letter) is.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a, T> {
    /// A known option, with its value when it takes one.
    Opt(T, Option<&'a OsStr>),
    /// An unknown option; `arg` is the whole argument it appeared in (`-z`, `--bogus=1`).
    Unknown { arg: &'a OsStr },
    /// An option that takes a value came last. `spelling` is `-w` or `--timeout`.
    MissingValue { spelling: String },
    /// `--name=value` for an option that takes no value.
    UnwantedValue { spelling: String },
    /// A prefix of several long options that mean different things.
    Ambiguous {
        given: String,
        candidates: Vec<&'static str>,
    },
}

/// The scanner over `args` (the arguments after the program name).
pub struct Getopt<'a, T: 'static> {
    args: &'a [std::ffi::OsString],
    specs: &'static [Spec<T>],
    /// Index of the argument being read.
    next: usize,
    /// Within a short cluster: the offset of the next letter, 0 when not in one.
    cluster: usize,
    done: bool,
}

impl<'a, T: Copy + PartialEq> Getopt<'a, T> {
    pub fn new(args: &'a [std::ffi::OsString], specs: &'static [Spec<T>]) -> Self {
        Getopt {
            args,
            specs,
            next: 0,
            cluster: 0,
            done: false,
        }
    }

    /// The operands: what follows the options (valid once [`Iterator::next`] returned `None`).
    pub fn operands(&self) -> &'a [std::ffi::OsString] {
        &self.args[self.next.min(self.args.len())..]
    }

    fn short(&mut self, arg: &'a OsStr) -> Event<'a, T> {
        let bytes = arg.as_bytes();
        let c = bytes[self.cluster];
        self.cluster += 1;
        let last = self.cluster == bytes.len();
        if last {
            self.cluster = 0;
            self.next += 1;
        }
        let Some(spec) = self.specs.iter().find(|s| s.short == Some(c)) else {
            return Event::Unknown { arg };
        };
        if spec.has_arg == HasArg::No {
            return Event::Opt(spec.id, None);
        }
        if !last {
            // The rest of the cluster is the value.
            let value = OsStr::from_bytes(&bytes[self.cluster..]);
            self.cluster = 0;
            self.next += 1;
            return Event::Opt(spec.id, Some(value));
        }
        match self.args.get(self.next) {
            Some(value) => {
                self.next += 1;
                Event::Opt(spec.id, Some(value))
            }
            None => Event::MissingValue {
                spelling: format!("-{}", c as char),
            },
        }
    }

    fn long(&mut self, arg: &'a OsStr) -> Event<'a, T> {
        self.next += 1;
        let body = &arg.as_bytes()[2..];
        let (name, value) = match body.iter().position(|&b| b == b'=') {
            Some(i) => (&body[..i], Some(OsStr::from_bytes(&body[i + 1..]))),
            None => (body, None),
        };
        let specs: &'static [Spec<T>] = self.specs;
        let with_long = || specs.iter().filter_map(|s| Some((s.long?, s)));
        let spec: &'static Spec<T> = match with_long().find(|(l, _)| l.as_bytes() == name) {
            Some((_, spec)) => spec,
            None => {
                let matches: Vec<(&'static str, &'static Spec<T>)> = with_long()
                    .filter(|(l, _)| l.as_bytes().starts_with(name))
                    .collect();
                let same = |m: &[(&'static str, &'static Spec<T>)]| {
                    m.iter()
                        .all(|(_, s)| s.id == m[0].1.id && s.has_arg == m[0].1.has_arg)
                };
                let primary: Vec<_> = matches.iter().copied().filter(|(_, s)| s.primary).collect();
                match matches.as_slice() {
                    [] => return Event::Unknown { arg },
                    _ if !same(&matches) && !primary.is_empty() && same(&primary) => primary[0].1,
                    [(_, first), rest @ ..]
                        if rest
                            .iter()
                            .all(|(_, s)| s.id == first.id && s.has_arg == first.has_arg) =>
                    {
                        first
                    }
                    _ => {
                        return Event::Ambiguous {
                            given: format!("--{}", String::from_utf8_lossy(name)),
                            candidates: matches.iter().map(|(l, _)| *l).collect(),
                        };
                    }
                }
            }
        };
        let spelling = || format!("--{}", spec.long.unwrap_or_default());
        match (spec.has_arg, value) {
            (HasArg::No, None) => Event::Opt(spec.id, None),
            (HasArg::No, Some(_)) => Event::UnwantedValue {
                spelling: spelling(),
            },
            (HasArg::Required, Some(v)) => Event::Opt(spec.id, Some(v)),
            (HasArg::Required, None) => match self.args.get(self.next) {
                Some(v) => {
                    self.next += 1;
                    Event::Opt(spec.id, Some(v))
                }
                None => Event::MissingValue {
                    spelling: spelling(),
                },
            },
        }
    }
}

impl<'a, T: Copy + PartialEq> Iterator for Getopt<'a, T> {
    type Item = Event<'a, T>;

    fn next(&mut self) -> Option<Event<'a, T>> {
        if self.done {
            return None;
        }
        let arg = self.args.get(self.next)?.as_os_str();
        if self.cluster > 0 {
            return Some(self.short(arg));
        }
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            self.next += 1;
            self.done = true;
            return None;
        }
        if bytes.len() < 2 || bytes[0] != b'-' {
            // An operand (a lone "-" included): the "+" stops here.
            self.done = true;
            return None;
        }
        if bytes[1] == b'-' {
            return Some(self.long(arg));
        }
        self.cluster = 1;
        Some(self.short(arg))
    }
}
