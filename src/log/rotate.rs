//! A relayed output file and its rotation: `--output-max SIZE[:KEEP]`.
//!
//! The relay keeps the file's size itself, because rotation is decided on it: where the
//! rotation point falls in the bytes just read, and where a line that runs too long is ended.
//! The file is opened with `O_APPEND` and written with `write(2)`, so every byte lands at the
//! file's true end whatever happened to it meanwhile: a file truncated by someone else (`: >
//! FILE` on a full disk, logrotate's `copytruncate`) is written from its new end, never past
//! a hole. The size the relay counts (each write adds what it wrote) is taken again from the
//! file (`lseek(2)` to `SEEK_END`) when it is opened or reopened and, when it is rotated, at
//! least every [`SYNC_EVERY`] bytes and before any write that could reach the rotation point:
//! a truncated file is not rotated early, and one that others wrote to is rotated on time.
//! A wake-up of the relay far from the rotation point costs no `lseek(2)`.
//!
//! **Rotation is line-aligned.** Once the file holds `SIZE` bytes, the relay writes on to the
//! end of the line under way; before the first byte of the next line it renames `FILE.K-1`
//! to `FILE.K` … `FILE` to `FILE.1` and creates `FILE` again (mode as asked). `FILE.KEEP` is
//! replaced by the rename of the one before it, so at most `KEEP` old files ever exist:
//! renames are bounded, whatever ran before. A file that already holds `SIZE` bytes when the
//! relay opens it (left by an earlier run, or found by `--reopen-on`) is rotated the same way
//! before the first line written to it; a start that fails before any output has renamed
//! nothing. A line that does not end within `SIZE + LINE_MAX` bytes of the file
//! ([`LINE_MAX`]), however it arrives, is ended there with a newline of pidward's, so no file
//! grows past that and the newline; the rest of that line starts the new file. No byte is
//! lost and no line is split between two files otherwise.
//!
//! ```
//! use pidward::log::Rotation;
//!
//! let r: Rotation = "50M:10".parse()?;
//! assert_eq!((r.max, r.keep), (50 << 20, 10));
//! assert_eq!("64K".parse::<Rotation>()?.keep, 5);
//! assert!("50X".parse::<Rotation>().unwrap_err().contains("50X"));
//! assert!(":0".parse::<Rotation>().is_err());
//! # Ok::<(), String>(())
//! ```

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::stream::{Appended, open_append};

/// How many old files `--output-max SIZE` keeps when KEEP is not given.
pub const DEFAULT_KEEP: u32 = 5;

/// The most old files KEEP may ask for.
pub const MAX_KEEP: u32 = 999;

/// How far past `SIZE` a line may run before pidward ends it (module docs).
pub const LINE_MAX: u64 = 64 * 1024;

/// The most bytes the relay writes before it takes the file's size from the file again.
pub const SYNC_EVERY: u64 = 1 << 20;

/// `SIZE[:KEEP]`: rotate past `max` bytes, keep `keep` old files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// The size past which the file is rotated, in bytes.
    pub max: u64,
    /// How many old files (`FILE.1` … `FILE.KEEP`) are kept.
    pub keep: u32,
}

impl FromStr for Rotation {
    type Err = String;

    /// A size in bytes with an optional `K`, `M` or `G` (powers of 1024), then optionally
    /// `:KEEP` (1 to [`MAX_KEEP`]; default [`DEFAULT_KEEP`]).
    fn from_str(s: &str) -> Result<Rotation, String> {
        let (size, keep) = match s.split_once(':') {
            Some((size, keep)) => (size, Some(keep)),
            None => (s, None),
        };
        let max = parse_size(size).ok_or_else(|| {
            let what = if size == s {
                format!("{s:?}")
            } else {
                format!("{s:?}: {size:?}")
            };
            format!("{what} is not a size (a whole number of bytes, or with K, M or G: 50M)")
        })?;
        let keep = match keep {
            None => DEFAULT_KEEP,
            Some(k) => k
                .parse::<u32>()
                .ok()
                .filter(|k| (1..=MAX_KEEP).contains(k))
                .ok_or_else(|| {
                    format!("{s:?}: KEEP {k:?} must be a whole number from 1 to {MAX_KEEP}")
                })?,
        };
        Ok(Rotation { max, keep })
    }
}

/// `4096`, `64K`, `50M`, `1G` (also lower case, and with a `B` after the unit); not 0.
fn parse_size(s: &str) -> Option<u64> {
    let s = s
        .strip_suffix(['B', 'b'])
        .filter(|r| !r.is_empty() && !r.ends_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(s);
    let (digits, shift) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 10),
        (i, 'm' | 'M') => (&s[..i], 20),
        (i, 'g' | 'G') => (&s[..i], 30),
        _ => (s, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(1 << shift).filter(|&n| n > 0)
}

/// An output file the relay writes, rotated or not (module docs).
#[derive(Debug)]
pub(crate) struct Rotating {
    path: PathBuf,
    mode: u32,
    pub(crate) file: File,
    /// Where the next byte goes (the file's size, as far as the relay knows).
    pub(crate) offset: u64,
    /// Bytes written since the offset was last taken from the file.
    unsynced: u64,
    rotation: Option<Rotation>,
}

impl Rotating {
    /// Opens (or creates, with `mode`) `path`; whether it was created.
    pub(crate) fn open(
        path: &Path,
        mode: u32,
        rotation: Option<Rotation>,
    ) -> io::Result<(Rotating, bool)> {
        let Appended { file, created } = open_append(path, mode)?;
        let offset = end_of(&file)?;
        Ok((
            Rotating {
                path: path.to_owned(),
                mode,
                file,
                offset,
                unsynced: 0,
                rotation,
            },
            created,
        ))
    }

    /// The path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the offset from the file's end (`lseek(2)`) before a write of up to `coming`
    /// bytes, if that write could reach the rotation point or [`SYNC_EVERY`] bytes went
    /// since the last time (module docs): someone may have truncated the file, or written
    /// to it.
    pub(crate) fn sync_offset_before(&mut self, coming: u64) {
        // A file that is not rotated has no use for its size.
        let Some(r) = self.rotation else { return };
        let near = self.offset.saturating_add(coming) >= r.max;
        if (near || self.unsynced >= SYNC_EVERY)
            && let Ok(end) = end_of(&self.file)
        {
            self.offset = end;
            self.unsynced = 0;
        }
    }

    /// How many bytes a file of `size` bytes may still take before the rotation point
    /// (`u64::MAX` when the file is not rotated).
    pub(crate) fn room(&self, size: u64) -> u64 {
        match self.rotation {
            Some(r) => r.max.saturating_sub(size),
            None => u64::MAX,
        }
    }

    /// How many more bytes a line under way may have in a file of `size` bytes before
    /// pidward ends it (`usize::MAX` when the file is not rotated).
    pub(crate) fn line_room(&self, size: u64) -> usize {
        match self.rotation {
            Some(r) => r.max.saturating_add(LINE_MAX).saturating_sub(size) as usize,
            None => usize::MAX,
        }
    }

    /// `write(2)` all of `buf` (at the file's end: `O_APPEND`); on an error (`ENOSPC`,
    /// `EIO`…) what was written stays written and the error is returned with how much that
    /// was.
    pub(crate) fn write(&mut self, buf: &[u8]) -> Result<(), (usize, io::Error)> {
        let mut done = 0;
        while done < buf.len() {
            let rest = &buf[done..];
            // SAFETY: write(2) from a live buffer on the file we own.
            let n = unsafe { libc::write(self.file.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
            if n > 0 {
                done += n as usize;
                self.offset += n as u64;
                self.unsynced += n as u64;
                continue;
            }
            let e = io::Error::last_os_error();
            if n < 0 && e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err((done, e));
        }
        Ok(())
    }

    /// Rotates (module docs) if the file is past its size. A rename that fails leaves the
    /// file as it is: it is written on, and rotated at the next line.
    pub(crate) fn rotate_if_full(&mut self) -> io::Result<()> {
        let Some(r) = self.rotation else {
            return Ok(());
        };
        if self.offset < r.max {
            return Ok(());
        }
        for k in (1..r.keep).rev() {
            match std::fs::rename(numbered(&self.path, k), numbered(&self.path, k + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, numbered(&self.path, 1))?;
        self.reopen()
    }

    /// Opens the path again (after a rotation, or `--reopen-on`), creating it if need be.
    pub(crate) fn reopen(&mut self) -> io::Result<()> {
        let Appended { file, .. } = open_append(&self.path, self.mode)?;
        self.offset = end_of(&file)?;
        self.unsynced = 0;
        self.file = file;
        Ok(())
    }
}

/// The offset of the file's end: `lseek(2)` to `SEEK_END` (0 from there).
fn end_of(file: &File) -> io::Result<u64> {
    Ok(rustix::fs::seek(file, rustix::fs::SeekFrom::End(0))?)
}

/// `FILE.K`.
pub(crate) fn numbered(path: &Path, k: u32) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{k}"));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("64k"), Some(64 << 10));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("2MB"), Some(2 << 20));
        for bad in [
            "",
            "0",
            "M",
            "50X",
            "-1",
            "1.5M",
            "5 M",
            "0K",
            "99999999999999G",
        ] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
        assert!("50M:0".parse::<Rotation>().unwrap_err().contains("KEEP"));
        assert!("50M:1000".parse::<Rotation>().is_err());
        assert!("50M:".parse::<Rotation>().is_err());
    }

    #[test]
    fn rotation_is_bounded_and_line_aligned_by_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let rot = Some(Rotation { max: 4, keep: 2 });
        let (mut f, created) = Rotating::open(&path, 0o600, rot).unwrap();
        assert!(created);
        for line in ["aaaa\n", "bbbb\n", "cccc\n", "dddd\n"] {
            f.write(line.as_bytes()).unwrap();
            f.rotate_if_full().unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        assert_eq!(
            std::fs::read_to_string(numbered(&path, 1)).unwrap(),
            "dddd\n"
        );
        assert_eq!(
            std::fs::read_to_string(numbered(&path, 2)).unwrap(),
            "cccc\n"
        );
        assert!(!numbered(&path, 3).exists());
    }
}
