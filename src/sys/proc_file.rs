//! Reading a `/proc` file whole: `open(2)`, then `read(2)` into a page of spare capacity that
//! grows as needed, until end of file.
//!
//! The files of `/proc` report a size of 0, so `std::fs::read` and `read_to_string` first ask
//! `statx(2)` for a size that says nothing and then read in growing pieces from 32 bytes up:
//! six `read`s for a `/proc/PID/stat`, eight for a `/proc/PID/status`. One page holds almost
//! every such file, so one `read` fills it and a second finds the end. The buffer is not
//! zeroed first (`rustix::buffer::spare_capacity`): `read` writes what it returns, and the
//! length grows by exactly that.

use std::io;
use std::path::Path;

/// The contents of the `/proc` file (or any small file) at `path`.
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut buf = Vec::with_capacity(4096);
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity());
        }
        match rustix::io::read(&file, rustix::buffer::spare_capacity(&mut buf)) {
            Ok(0) => break,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(buf)
}

/// [`read`], as UTF-8 text (`InvalidData` otherwise).
pub fn read_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
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
}
