//! The file side of the [`Relay`](super::Relay): `splice(2)` while bytes need not be seen,
//! line-aligned writes (timestamps, rotation, reports of drops) when they must.

use std::io;
use std::os::fd::AsRawFd;

use super::{Got, Out, RelayOptions, SPLICE_MAX, Source, stamp};
use crate::log::rotate::Rotating;

impl Source {
    /// `splice(2)` from the pipe into the file, when the file can take bytes unseen: no
    /// timestamps, no report of drops owed, and room before the rotation point. `None` when
    /// lines must be looked at.
    pub(super) fn try_splice(&mut self, opts: &RelayOptions) -> Option<Got> {
        let Out::File(f) = &mut self.out else {
            return None;
        };
        if opts.timestamps || self.dropped > 0 || self.broken {
            return None;
        }
        let room = f.room();
        if room == 0 {
            // At the rotation point: rotate now if the last byte ends a line, else read on
            // to the line's end.
            if last_byte(f) == Some(b'\n') && f.rotate_if_full().is_ok() {
                self.at_line_start = true;
                return Some(Got::Moved);
            }
            self.at_line_start = false;
            return None;
        }
        let len = room.min(SPLICE_MAX as u64) as usize;
        let mut off = f.offset as libc::loff_t;
        // SAFETY: splice(2) from our non-blocking pipe into our file at `off`, a live local.
        let n = unsafe {
            libc::splice(
                self.read.as_raw_fd(),
                std::ptr::null_mut(),
                f.file.as_raw_fd(),
                &mut off,
                len,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        };
        if n > 0 {
            f.offset += n as u64;
            return Some(Got::Moved);
        }
        let e = io::Error::last_os_error();
        match (n, e.raw_os_error()) {
            (0, _) | (_, Some(libc::EAGAIN)) => Some(Got::Empty),
            (_, Some(libc::EINTR)) => Some(Got::Moved),
            // The file cannot take it (ENOSPC, EIO, EINVAL on a file system without
            // splice): the bytes are read and written, or dropped, line by line, and a line
            // cut short in the file is ended before the next one.
            _ => {
                self.broken = last_byte(f).is_some_and(|b| b != b'\n');
                None
            }
        }
    }

    /// Writes `data` to the file: a timestamp at each line start (with `timestamps`), the
    /// report of drops owed before the next line, a rotation at each line end past the size.
    pub(super) fn write_file(&mut self, data: &[u8], opts: &RelayOptions) {
        let mut out: Vec<u8> = Vec::with_capacity(data.len() + 64);
        let mut rest = data;
        while !rest.is_empty() {
            let Out::File(f) = &self.out else { return };
            // A line under way may run to the hard maximum, no further.
            let cap = match self.at_line_start {
                true => usize::MAX,
                false => f.line_room(f.offset + out.len() as u64),
            };
            if cap == 0 {
                out.push(b'\n');
                self.at_line_start = true;
                self.flush_file(&mut out, opts);
                self.rotate();
                continue;
            }
            if self.at_line_start && opts.timestamps {
                out.extend_from_slice(stamp().as_bytes());
            }
            let end = match rest.iter().position(|&b| b == b'\n') {
                Some(i) if i < cap => i + 1,
                _ => rest.len().min(cap),
            };
            out.extend_from_slice(&rest[..end]);
            rest = &rest[end..];
            self.at_line_start = out.last() == Some(&b'\n');
            let Out::File(f) = &self.out else { return };
            if self.at_line_start && f.room() <= out.len() as u64 {
                self.flush_file(&mut out, opts);
                self.rotate();
            }
        }
        self.flush_file(&mut out, opts);
    }

    /// Rotates the file if it is full (a failed rename is tried again at the next line).
    fn rotate(&mut self) {
        if let Out::File(f) = &mut self.out {
            let _ = f.rotate_if_full();
        }
    }

    /// Writes `out` (then empties it), reporting owed drops first; counts the lines a failed
    /// write loses.
    fn flush_file(&mut self, out: &mut Vec<u8>, opts: &RelayOptions) {
        let Out::File(f) = &mut self.out else { return };
        if out.is_empty() {
            return;
        }
        let mut head = Vec::new();
        if self.broken {
            head.push(b'\n');
        }
        if self.dropped > 0 {
            if opts.timestamps {
                head.extend_from_slice(stamp().as_bytes());
            }
            head.extend_from_slice(format!("pidward: {} lines dropped\n", self.dropped).as_bytes());
        }
        if !head.is_empty() {
            match f.write(&head) {
                Ok(()) => (self.broken, self.dropped) = (false, 0),
                Err((done, _)) => {
                    self.broken = done > 0;
                    let lost = lines(out);
                    self.dropped += lost;
                    self.total += lost;
                    out.clear();
                    return;
                }
            }
        }
        if let Err((done, _)) = f.write(out) {
            let lost = lines(&out[done..]);
            self.dropped += lost;
            self.total += lost;
            self.broken = done > 0 && out[done - 1] != b'\n';
        }
        out.clear();
    }
}

/// The file's last byte (`pread(2)`), if it has one.
fn last_byte(f: &Rotating) -> Option<u8> {
    if f.offset == 0 {
        return None;
    }
    let mut b = 0u8;
    // SAFETY: pread(2) of one byte into a live local.
    let n = unsafe {
        libc::pread(
            f.file.as_raw_fd(),
            (&mut b as *mut u8).cast(),
            1,
            (f.offset - 1) as libc::off_t,
        )
    };
    (n == 1).then_some(b)
}

/// How many lines `bytes` ends (its newlines: a line is counted where it ends).
fn lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}
