//! Where this process's cgroup (v2) is in the file system: `/proc/self/cgroup` gives its
//! path in the unified hierarchy (the `0::` line), `/proc/self/mountinfo` where that
//! hierarchy (`cgroup2`) is mounted (see `cgroups(7)`, `proc_pid_mountinfo(5)`).
//!
//! A hybrid system mounts it at `/sys/fs/cgroup/unified`, a unified one at `/sys/fs/cgroup`;
//! a container may see only part of it (the mount's root field). No `cgroup2` mount, or a
//! path outside every mount's root, is `NotFound`. [`name_of`] goes the other way: from a
//! directory to the cgroup's name.
//!
//! Each `/proc` file is read once per answer, in one `read(2)` where it fits a page: the files
//! report a size of 0, so `std::fs::read_to_string` would ask `statx(2)` for it first and then
//! read in growing pieces from 32 bytes up.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The directory of this process's own cgroup v2 (`/proc/self/cgroup`, line `0::PATH`,
/// joined to the `cgroup2` mount of `/proc/self/mountinfo` that holds it).
pub fn own_dir() -> io::Result<PathBuf> {
    own().map(|(dir, _)| dir)
}

/// [`own_dir`], and the cgroup's name as `/proc/self/cgroup` gives it (without a trailing
/// `/`: `""` for the root), from one read of each file.
pub fn own() -> io::Result<(PathBuf, String)> {
    let cgroups = read_proc("/proc/self/cgroup")?;
    let own = cgroups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or_else(|| not_found("no cgroup v2 in /proc/self/cgroup"))?;
    for (root, point) in mounts()? {
        let rest = match own.strip_prefix(root.trim_end_matches('/')) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => continue,
        };
        let mut dir = point;
        dir.push(rest.trim_start_matches('/'));
        return Ok((dir, own.trim_end_matches('/').to_owned()));
    }
    Err(not_found("no cgroup2 mount holds this process's cgroup"))
}

/// The cgroup whose directory is `dir`, as `/proc/PID/cgroup` names it (the `0::` path):
/// `dir` must be below a `cgroup2` mount of `/proc/self/mountinfo` (else `NotFound`).
pub fn name_of(dir: &Path) -> io::Result<String> {
    for (root, point) in mounts()? {
        let Ok(rest) = dir.strip_prefix(&point) else {
            continue;
        };
        let rest = rest
            .to_str()
            .ok_or_else(|| not_found("a cgroup path that is not UTF-8"))?;
        return Ok(format!("{}/{rest}", root.trim_end_matches('/')));
    }
    Err(not_found("no cgroup2 mount holds this directory"))
}

/// The `cgroup2` mounts: each one's root (in the hierarchy) and mount point.
fn mounts() -> io::Result<Vec<(String, PathBuf)>> {
    let mounts = read_proc("/proc/self/mountinfo")?;
    let mut found = Vec::new();
    for line in mounts.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        if right.split_whitespace().next() != Some("cgroup2") {
            continue;
        }
        let fields: Vec<&str> = left.split_whitespace().collect();
        if let (Some(root), Some(point)) = (fields.get(3), fields.get(4)) {
            found.push((unescape(root), PathBuf::from(unescape(point))));
        }
    }
    Ok(found)
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `/proc` file as text: open(2), then read(2) into a page-sized buffer that grows as
/// needed, until end of file (no `statx(2)`: the size these files report is 0).
fn read_proc(path: &str) -> io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn not_found(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, what)
}

#[cfg(test)]
mod tests {
    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(super::unescape(r"/a\040b"), "/a b");
        assert_eq!(super::unescape("/plain"), "/plain");
    }

    #[test]
    fn proc_files_are_read_whole() {
        let read = super::read_proc("/proc/self/mountinfo").unwrap();
        let std = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!read.is_empty());
        assert_eq!(read, std);
    }
}
