//! The file side of the [`Relay`](super::Relay): the pipe read into one buffer, the buffer
//! written with one `write(2)`, cut at line ends only where rotation, a line past the hard
//! maximum or timestamps need it.

use super::{BATCH, FILE_BUF, Out, Read, RelayOptions, STAMP_LEN, Source, read_pipe, stamp};

impl Source {
    /// Fills the buffer from the pipe and writes it to the file, again while the pipe has
    /// more and `budget` reads (`None`: no limit) are left; whether the pipe is empty.
    pub(super) fn pump_file(&mut self, opts: &RelayOptions, budget: Option<usize>) -> bool {
        if self.buf.len() != FILE_BUF {
            self.buf = vec![0; FILE_BUF];
        }
        let mut left = budget.unwrap_or(usize::MAX);
        loop {
            let (filled, empty) = self.fill(&mut left);
            if filled > 0 {
                let data = std::mem::take(&mut self.buf);
                self.write_file(&data[..filled], opts);
                self.buf = data;
            }
            if empty {
                return true;
            }
            if left == 0 {
                return false;
            }
        }
    }

    /// Reads into the buffer until the pipe is empty, the buffer is full, or [`BATCH`] reads
    /// (at most `left`, which it counts down) are made; how many bytes it holds, and whether
    /// the pipe is empty (a read error counts as empty: nothing more can be had now).
    ///
    /// A read that returns less than it asked for emptied the pipe (a pipe's `read(2)` stops
    /// short only there), so the pipe counts as empty without the `read(2)` that would say
    /// `EAGAIN`: the epoll descriptor is level-triggered, and wakes the loop again for what
    /// the command writes next.
    fn fill(&mut self, left: &mut usize) -> (usize, bool) {
        let mut filled = 0;
        let mut reads = 0;
        while filled < self.buf.len() && reads < BATCH && *left > 0 {
            reads += 1;
            *left -= 1;
            let asked = self.buf.len() - filled;
            match read_pipe(&self.read, &mut self.buf[filled..]) {
                Read::Got(n) if n < asked => return (filled + n, true),
                Read::Got(n) => filled += n,
                Read::Empty | Read::Failed => return (filled, true),
            }
        }
        (filled, false)
    }

    /// Writes `data` to the file: in one piece while no line needs looking at; else rotated
    /// before a line that begins in a full file, a line ended at the hard maximum, and (with
    /// `timestamps`) a timestamp at each line start.
    pub(super) fn write_file(&mut self, data: &[u8], opts: &RelayOptions) {
        if let Out::File(f) = &mut self.out {
            // At most this many bytes go to the file now: the data, a timestamp per byte at
            // worst, the report of drops.
            let per_byte = if opts.timestamps { 1 + STAMP_LEN } else { 1 };
            f.sync_offset_before(data.len() as u64 * per_byte + 4096);
        }
        let mut rest = data;
        while !rest.is_empty() {
            let Out::File(f) = &mut self.out else { return };
            let mut size = f.offset + self.stamped.len() as u64;
            let mut cap = f.line_room(size);
            if self.at_line_start && f.room(size) == 0 {
                // A line begins in a full file (one left full by the line before, or found
                // full when opened): rotate first.
                self.flush_stamped(opts);
                let Out::File(f) = &mut self.out else { return };
                let _ = f.rotate_if_full();
                size = f.offset;
                // A failed rename leaves the file full: this line is written on whole, and
                // the rotation is tried again before the next.
                cap = match f.room(size) {
                    0 => usize::MAX,
                    _ => f.line_room(size),
                };
            }
            if cap == 0 {
                // The line under way reached the hard maximum: pidward ends it.
                self.put(b"\n", opts);
                self.at_line_start = true;
                continue;
            }
            if self.at_line_start && opts.timestamps {
                // The timestamp counts towards the file's size (at least one byte of the
                // line still goes with it).
                let ts = stamp();
                self.stamped.extend_from_slice(&ts);
                cap = cap.saturating_sub(ts.len()).max(1);
            }
            // Where the piece may end: with timestamps, at the first line end; else at the
            // first line end at or past the rotation point, or all of it.
            let Out::File(f) = &self.out else { return };
            let from = match opts.timestamps {
                true => 0,
                false => (f.room(size).saturating_sub(1)).min(rest.len() as u64) as usize,
            };
            let end = match rest[from..].iter().position(|&b| b == b'\n') {
                Some(i) if from + i < cap => from + i + 1,
                _ => rest.len().min(cap),
            };
            let (piece, tail) = rest.split_at(end);
            self.put(piece, opts);
            self.at_line_start = piece.last() == Some(&b'\n');
            rest = tail;
        }
        self.flush_stamped(opts);
    }

    /// `piece` to the file: gathered with the timestamps with `timestamps`, else written at
    /// once.
    fn put(&mut self, piece: &[u8], opts: &RelayOptions) {
        if opts.timestamps {
            self.stamped.extend_from_slice(piece);
        } else {
            self.flush_file(piece, opts);
        }
    }

    /// Writes the timestamped lines gathered so far.
    fn flush_stamped(&mut self, opts: &RelayOptions) {
        if !self.stamped.is_empty() {
            let stamped = std::mem::take(&mut self.stamped);
            self.flush_file(&stamped, opts);
            self.stamped = stamped;
            self.stamped.clear();
        }
    }

    /// Writes `out`, reporting owed drops first; counts the lines a failed write loses.
    fn flush_file(&mut self, out: &[u8], opts: &RelayOptions) {
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
                head.extend_from_slice(&stamp());
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
    }
}

/// How many lines `bytes` ends (its newlines: a line is counted where it ends).
fn lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}
