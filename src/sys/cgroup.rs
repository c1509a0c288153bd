//! Where this process's cgroup (v2) is in the file system: `/proc/self/cgroup` gives its
//! path in the unified hierarchy (the `0::` line), `/proc/self/mountinfo` where that
//! hierarchy (`cgroup2`) is mounted (see `cgroups(7)`, `proc_pid_mountinfo(5)`).
//!
//! A hybrid system mounts it at `/sys/fs/cgroup/unified`, a unified one at `/sys/fs/cgroup`;
//! a container may see only part of it (the mount's root field). No `cgroup2` mount, or a
//! path outside every mount's root, is `NotFound`. [`name_of`] goes the other way: from a
//! directory to the cgroup's name.
//!
//! Where the kernel can say so for one mount (`statmount(2)`, Linux 6.8), the usual places
//! (`/sys/fs/cgroup`, `/sys/fs/cgroup/unified`) are asked first, and `mountinfo` is read only
//! if neither holds the cgroup.
//!
//! Each `/proc` file is read once per answer, whole ([`super::proc_file`]).

use std::io;
use std::path::{Path, PathBuf};

/// The directory of this process's own cgroup v2 (`/proc/self/cgroup`, line `0::PATH`,
/// joined to the `cgroup2` mount of `/proc/self/mountinfo` that holds it).
pub fn own_dir() -> io::Result<PathBuf> {
    own().map(|(dir, _)| dir)
}

/// [`own_dir`], and the cgroup's name as `/proc/self/cgroup` gives it (without a trailing
/// `/`: `""` for the root), from one read of each file.
pub fn own() -> io::Result<(PathBuf, String)> {
    let cgroups = super::proc_file::read_short_string("/proc/self/cgroup")?;
    let own = cgroups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or_else(|| not_found("no cgroup v2 in /proc/self/cgroup"))?;
    if let Some(found) = usual_mount().and_then(|mount| holding(own, [mount])) {
        return Ok(found);
    }
    holding(own, mounts()?).ok_or_else(|| not_found("no cgroup2 mount holds this process's cgroup"))
}

/// The directory and name of the cgroup `own` (a `0::` path) under the first of `mounts`
/// (root, mount point) whose root holds it.
fn holding(
    own: &str,
    mounts: impl IntoIterator<Item = (String, PathBuf)>,
) -> Option<(PathBuf, String)> {
    for (root, point) in mounts {
        let rest = match own.strip_prefix(root.trim_end_matches('/')) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => continue,
        };
        let mut dir = point;
        dir.push(rest.trim_start_matches('/'));
        return Some((dir, own.trim_end_matches('/').to_owned()));
    }
    None
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
    let mounts = super::proc_file::read_string("/proc/self/mountinfo")?;
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

/// The `cgroup2` mount at one of the usual places, `/sys/fs/cgroup` (a unified system) or
/// `/sys/fs/cgroup/unified` (a hybrid one): its root and mount point, asked of the kernel for
/// that mount alone (`statx(2)` for its unique mount ID, then `statmount(2)`, Linux 6.8),
/// which costs a fraction of reading `/proc/self/mountinfo` (the kernel formats every mount
/// of the namespace for that: 65 µs against 4 µs here). `None` when neither place is a
/// `cgroup2` mount point or the kernel lacks the calls: the caller reads `mountinfo`.
fn usual_mount() -> Option<(String, PathBuf)> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .find_map(|point| {
            let (root, at) = statmount_root(point)?;
            (at == point).then(|| (root, PathBuf::from(point)))
        })
}

/// `CGROUP2_SUPER_MAGIC`.
const CGROUP2_MAGIC: u64 = 0x6367_7270;
/// `STATX_MNT_ID_UNIQUE` (Linux 6.8).
const STATX_MNT_ID_UNIQUE: u32 = 0x4000;
/// `statmount(2)` (Linux 6.8), the same number on every architecture.
const SYS_STATMOUNT: libc::c_long = 457;
/// `STATMOUNT_SB_BASIC | STATMOUNT_MNT_ROOT | STATMOUNT_MNT_POINT`.
const STATMOUNT_MASK: u64 = 0x1 | 0x8 | 0x10;
/// The fixed part of `struct statmount`, before its strings.
const STATMOUNT_HEADER: usize = 512;

/// For the mount `path` is on, if it is a `cgroup2` file system: its root in the hierarchy
/// and its mount point (`statx(2)` with `STATX_MNT_ID_UNIQUE`, then `statmount(2)` with
/// `STATMOUNT_SB_BASIC | STATMOUNT_MNT_ROOT | STATMOUNT_MNT_POINT`).
fn statmount_root(path: &str) -> Option<(String, String)> {
    let cpath = std::ffi::CString::new(path).ok()?;
    let mut stx = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: statx(2) of a C string into a zeroed statx buffer we own.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            cpath.as_ptr(),
            libc::AT_NO_AUTOMOUNT,
            STATX_MNT_ID_UNIQUE,
            stx.as_mut_ptr(),
        )
    };
    // SAFETY: zeroed, then filled by statx(2) on success.
    let stx = unsafe { stx.assume_init() };
    if r != 0 || stx.stx_mask & STATX_MNT_ID_UNIQUE == 0 {
        return None;
    }
    // struct mnt_id_req, version 0: size, spare, mnt_id, param (the mask).
    let req: [u64; 3] = [24, stx.stx_mnt_id, STATMOUNT_MASK];
    // On the stack: the header and room for two paths of a usual length (`EOVERFLOW` for
    // longer ones, and the caller reads mountinfo).
    let mut buf = [0u64; (STATMOUNT_HEADER + 1536) / 8];
    // SAFETY: statmount(2) reads the request and writes at most `buf`'s length in bytes.
    let r = unsafe {
        libc::syscall(
            SYS_STATMOUNT,
            req.as_ptr(),
            buf.as_mut_ptr(),
            buf.len() * 8,
            0,
        )
    };
    if r != 0 {
        return None;
    }
    // SAFETY: a u64 buffer seen as its bytes, for as long as it lives.
    let bytes: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), buf.len() * 8) };
    let u32_at = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap());
    // mask at 8, sb_magic at 24, mnt_root at 104, mnt_point at 108 (offsets into str[]).
    if u64_at(8) & STATMOUNT_MASK != STATMOUNT_MASK || u64_at(24) != CGROUP2_MAGIC {
        return None;
    }
    let string = |offset: u32| {
        let s = bytes.get(STATMOUNT_HEADER + offset as usize..)?;
        let end = s.iter().position(|&b| b == 0)?;
        String::from_utf8(s[..end].to_vec()).ok()
    };
    Some((string(u32_at(104))?, string(u32_at(108))?))
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
    fn statmount_and_mountinfo_agree_on_the_usual_mount() {
        // Where a usual place is a cgroup2 mount point, statmount(2) must report what
        // mountinfo lists for it: the same root, at the same point.
        let listed = super::mounts().unwrap();
        for point in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
            let asked = super::statmount_root(point);
            let in_mountinfo = listed
                .iter()
                .rev()
                .find(|(_, p)| p == std::path::Path::new(point));
            match (asked, in_mountinfo) {
                (Some((root, at)), Some((listed_root, _))) => {
                    assert_eq!(&root, listed_root, "{point}");
                    assert_eq!(at, point);
                }
                // Not a cgroup2 mount point (a tmpfs on a hybrid system, say) for both, or
                // a kernel without statmount(2).
                (None, _) => {}
                (Some(found), None) => {
                    panic!("{point}: statmount says {found:?}, mountinfo nothing")
                }
            }
        }
        // And the whole answer is the same either way.
        let cgroups = crate::sys::proc_file::read_string("/proc/self/cgroup").unwrap();
        if let Some(own) = cgroups.lines().find_map(|l| l.strip_prefix("0::")) {
            let slow = super::holding(own, listed.clone());
            if let Some(fast) = super::usual_mount().and_then(|m| super::holding(own, [m])) {
                assert_eq!(Some(fast), slow);
            }
        }
    }
}
