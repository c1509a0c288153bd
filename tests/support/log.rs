//! The logs of `pidward run`: running it with a clean environment, reading logfmt lines,
//! a datagram listener standing in for `/dev/log` or journald, and journald's native framing.

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Output};
use std::time::Duration;

pub fn pidward() -> &'static str {
    env!("CARGO_BIN_EXE_pidward")
}

/// `pidward run ARGS`, with `$PIDWARD` for scripts that call `pidward notify`.
pub fn run(args: &[&str]) -> Output {
    Command::new(pidward())
        .arg("run")
        .args(args)
        .env("PIDWARD", pidward())
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap()
}

/// `pidward run ARGS -- true` exits 2 (usage) with VALUE in its message, for each
/// `(ARGS, VALUE)`.
pub fn assert_usage_errors(cases: &[(&[&str], &str)]) {
    for (args, value) in cases {
        let mut all = args.to_vec();
        all.extend(["--", "true"]);
        let out = run(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(value), "{args:?}: {err}");
    }
}

/// A directory holding what a log or output path must not be: `a-dir` (a directory), `fifo`
/// (a FIFO), and `link` (a symlink to `target`, which holds `untouched\n`).
pub fn hostile_paths() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("a-dir")).unwrap();
    nix::unistd::mkfifo(
        &d.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    std::fs::write(d.join("target"), "untouched\n").unwrap();
    std::os::unix::fs::symlink(d.join("target"), d.join("link")).unwrap();
    dir
}

/// One logfmt line as a map (quoted values unescaped).
pub fn logfmt(line: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some(c) => value.push(c),
                        None => {}
                    },
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.insert(key, value);
    }
}

pub fn events(text: &str) -> Vec<BTreeMap<String, String>> {
    text.lines().map(logfmt).collect()
}

pub fn find<'a>(
    events: &'a [BTreeMap<String, String>],
    name: &str,
) -> Vec<&'a BTreeMap<String, String>> {
    events.iter().filter(|e| e["event"] == name).collect()
}

/// `2026-11-22T09:12:44.310Z`: RFC 3339, UTC, milliseconds.
pub fn is_rfc3339_ms(ts: &str) -> bool {
    let b = ts.as_bytes();
    b.len() == 24
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[23] == b'Z'
        && ts[20..23].bytes().all(|c| c.is_ascii_digit())
        && pidward::time::parse_rfc3339(ts).is_ok()
}

/// A datagram listener bound in a fresh directory; its path, for `@SOCKET`.
pub struct Listener {
    _dir: tempfile::TempDir,
    pub socket: UnixDatagram,
    pub path: String,
}

impl Listener {
    pub fn new() -> Listener {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Listener {
            path: path.to_str().unwrap().to_owned(),
            _dir: dir,
            socket,
        }
    }

    /// Every datagram received so far.
    pub fn all(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 1 << 17];
        while let Ok(n) = self.socket.recv(&mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    }
}

/// A journal entry, parsed as journald reads the native protocol.
pub fn entry(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let nl = rest.iter().position(|&b| b == b'\n').unwrap();
        let line = &rest[..nl];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            out.insert(
                String::from_utf8(line[..eq].to_vec()).unwrap(),
                line[eq + 1..].to_vec(),
            );
            rest = &rest[nl + 1..];
        } else {
            let name = String::from_utf8(line.to_vec()).unwrap();
            let len = u64::from_le_bytes(rest[nl + 1..nl + 9].try_into().unwrap()) as usize;
            let value = rest[nl + 9..nl + 9 + len].to_vec();
            assert_eq!(rest[nl + 9 + len], b'\n', "binary field {name} not closed");
            out.insert(name, value);
            rest = &rest[nl + 10 + len..];
        }
    }
    out
}
