//! Reading a `/proc` file whole: `open(2)`, then `read(2)` into a page of spare capacity that
//! grows as needed.
//!
//! The files of `/proc` report a size of 0, so `std::fs::read` and `read_to_string` first ask
//! `statx(2)` for a size that says nothing and then read in growing pieces from 32 bytes up:
//! six `read`s for a `/proc/PID/stat`, eight for a `/proc/PID/status`. One page holds almost
//! every such file. The buffer is not zeroed first: `read` writes what it returns into the
//! vector's spare capacity, and the length grows by exactly that.
//!
//! When the end is reached depends on how the kernel makes the file:
//!
//! * [`read`] reads until `read` returns 0. A file the kernel formats record by record
//!   (`/proc/self/mountinfo`, `cgroup.procs`, `/proc/PID/task/TID/children`: seq_files with an
//!   iterator) returns, at each `read`, the records that fit in the kernel's page; a short
//!   read there is the end of a page, not of the file.
//! * [`read_short`] stops at the first `read` that returns less than it asked for, one system
//!   call fewer. That is the end for a regular file (`read(2)` returns less only at the end of
//!   the file, or for a signal on a slow device, which a file is not) and for the files the
//!   kernel formats whole at the first `read`: `/proc/PID/stat`, `status`, `cmdline`, `comm`,
//!   `/proc/PID/cgroup` (`single_open` seq_files, and `cmdline`, which copies the argument area
//!   up to the size asked for), `/proc/sys` values, and cgroup files of one record such as
//!   `cgroup.events`.

use std::io;
use std::path::Path;

/// The contents of the `/proc` file (or any small file) at `path`, read until `read` says
/// the end (0).
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    read_until(path.as_ref(), End::Zero)
}

/// The contents of the file at `path`, read until a `read` returns less than it asked for:
/// only for a regular file, or a `/proc` or cgroup file formatted whole at the first read
/// (see the module header).
pub fn read_short(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    read_until(path.as_ref(), End::Short)
}

/// [`read`], as UTF-8 text (`InvalidData` otherwise).
pub fn read_string(path: impl AsRef<Path>) -> io::Result<String> {
    utf8(read(path)?)
}

/// [`read_short`], as UTF-8 text (`InvalidData` otherwise).
pub fn read_short_string(path: impl AsRef<Path>) -> io::Result<String> {
    utf8(read_short(path)?)
}

/// What says that the file has been read to its end.
#[derive(Clone, Copy, PartialEq)]
enum End {
    /// A `read` returns 0.
    Zero,
    /// A `read` returns less than it asked for (or 0).
    Short,
}

/// [`read_short`] of a file opened by the caller (with the flags it needs), up to `limit`
/// bytes: what is past them is not read.
pub fn read_short_from(file: &std::fs::File, limit: usize) -> io::Result<Vec<u8>> {
    read_from(file, End::Short, limit)
}

fn read_until(path: &Path, end: End) -> io::Result<Vec<u8>> {
    read_from(&std::fs::File::open(path)?, end, usize::MAX)
}

fn read_from(file: &std::fs::File, end: End, limit: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(4096.min(limit));
    while buf.len() < limit {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity().min(limit - buf.len()));
        }
        let room = (buf.capacity() - buf.len()).min(limit - buf.len());
        let spare = &mut buf.spare_capacity_mut()[..room];
        match rustix::io::read(file, spare) {
            Ok((read, _)) => {
                let n = read.len();
                // SAFETY: read(2) initialised the first `n` bytes of the spare capacity.
                unsafe { buf.set_len(buf.len() + n) };
                if n == 0 || (end == End::Short && n < room) {
                    break;
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(buf)
}

fn utf8(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn proc_files_are_read_whole() {
        // mountinfo does not change between two reads: the whole text must be the same.
        let read = super::read_string("/proc/self/mountinfo").unwrap();
        assert!(!read.is_empty());
        assert_eq!(
            read,
            std::fs::read_to_string("/proc/self/mountinfo").unwrap()
        );
        // status and stat move between two reads (times, memory): what does not change.
        for path in ["/proc/self/status", "/proc/self/stat"] {
            let read = super::read_string(path).unwrap();
            let std = std::fs::read_to_string(path).unwrap();
            assert_eq!(read.lines().count(), std.lines().count(), "{path}");
            assert_eq!(read.lines().next(), std.lines().next(), "{path}");
        }
        // A file longer than the first page is read to its end.
        let long = "x".repeat(10_000);
        let file = std::env::temp_dir().join(format!("pidward-proc-file-{}", std::process::id()));
        std::fs::write(&file, &long).unwrap();
        let back = super::read_string(&file);
        let _ = std::fs::remove_file(&file);
        assert_eq!(back.unwrap(), long);
        let err = super::read("/proc/self/no-such-file").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn files_formatted_whole_are_read_whole_by_read_short() {
        // The command line and the cgroup do not change between two reads.
        for path in [
            "/proc/self/cmdline",
            "/proc/self/cgroup",
            "/proc/sys/kernel/pid_max",
        ] {
            assert_eq!(
                super::read_short(path).unwrap(),
                std::fs::read(path).unwrap(),
                "{path}"
            );
        }
        let status = super::read_short_string("/proc/self/status").unwrap();
        let std = std::fs::read_to_string("/proc/self/status").unwrap();
        assert_eq!(status.lines().count(), std.lines().count());
        assert!(status.ends_with('\n'), "{status:?}");
        // Regular files: one byte short of a page, a page exactly (the read that fills it
        // is not short: the next one finds the end), and several pages.
        for len in [4095, 4096, 10_000] {
            let text: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let file = std::env::temp_dir().join(format!(
                "pidward-proc-file-short-{}-{len}",
                std::process::id()
            ));
            std::fs::write(&file, &text).unwrap();
            let back = super::read_short_string(&file);
            let _ = std::fs::remove_file(&file);
            assert_eq!(back.unwrap(), text, "{len} bytes");
        }
        let err = super::read_short("/proc/self/no-such-file").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
