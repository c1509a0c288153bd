//! Listing a directory: `getdents64(2)` through rustix's `Dir`.
//!
//! `std::fs::ReadDir` asserts that `closedir(3)` succeeds: a `close(2)` that fails (EIO on a
//! network file system, or an injected fault) aborts the whole process (`panic = "abort"`).
//! A failed close of a directory we only read loses nothing, so this one ignores it.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{Dir, Mode, OFlags};

/// The names in directory `path`, `.` and `..` left out: [`open(2)`] (`O_DIRECTORY`), then
/// [`getdents64(2)`] until the end. `EINTR` is retried.
///
/// [`open(2)`]: https://man7.org/linux/man-pages/man2/open.2.html
/// [`getdents64(2)`]: https://man7.org/linux/man-pages/man2/getdents64.2.html
pub fn entry_names(path: &Path) -> io::Result<Vec<OsString>> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = loop {
        match rustix::fs::open(path, flags, Mode::empty()) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other?,
        }
    };
    let mut dir = Dir::new(fd)?;
    let mut names = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(std::ffi::OsStr::from_bytes(name).to_owned());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_names_without_dot_entries() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "").unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        let mut names = super::entry_names(dir.path()).unwrap();
        names.sort();
        assert_eq!(names, ["a", "b"]);
        assert!(super::entry_names(&dir.path().join("a")).is_err());
    }
}
