//! `/proc/PID/stat`: the kernel's one-line record of a process.

use std::io;

/// The fields of `/proc/PID/stat` pidward uses (see [`proc_pid_stat(5)`]).
///
/// [`proc_pid_stat(5)`]: https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 3, the one-letter state: `R`, `S`, `D`, `T`, `t`, `Z`, `X`, `I`...
    pub state: u8,
    /// Field 4, the parent's PID (0 for the first process of a PID namespace).
    pub ppid: i32,
    /// Field 5, the process group.
    pub pgrp: i32,
    /// Field 6, the session.
    pub session: i32,
    /// Field 22, when the process started, in clock ticks (`sysconf(_SC_CLK_TCK)`) since boot.
    pub start_time: u64,
}

/// [`proc_pid_stat(5)`]: read and parse `/proc/PID/stat`.
///
/// The command name (field 2) may hold any bytes, spaces and `)` included, so the fields are
/// counted after the *last* `)`. `ENOENT`/`ESRCH` mean no such process; a record that does
/// not parse is `InvalidData` naming the file.
///
/// [`proc_pid_stat(5)`]: https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html
pub fn read(pid: i32) -> io::Result<ProcStat> {
    let path = format!("/proc/{pid}/stat");
    let bytes = super::proc_file::read_short(&path)?;
    parse(&bytes).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path}: unexpected format"),
        )
    })
}

/// Parses one `/proc/PID/stat` record.
pub(crate) fn parse(bytes: &[u8]) -> Option<ProcStat> {
    let close = bytes.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&bytes[close + 1..]).ok()?;
    // rest[0] is field 3 (state).
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next().filter(|s| s.len() == 1)?.as_bytes()[0];
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    let session = fields.next()?.parse().ok()?;
    // Fields 7..=21 lie between session and starttime.
    let start_time = fields.nth(15)?.parse().ok()?;
    Some(ProcStat {
        state,
        ppid,
        pgrp,
        session,
        start_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] = b"4242 (a) b) (c) S 1 4242 4240 0 -1 4194560 \
        100 0 0 0 1 2 0 0 20 0 1 0 987654 1000000 200 18446744073709551615";

    #[test]
    fn parses_after_the_last_parenthesis() {
        let stat = parse(LINE).unwrap();
        assert_eq!(
            stat,
            ProcStat {
                state: b'S',
                ppid: 1,
                pgrp: 4242,
                session: 4240,
                start_time: 987654
            }
        );
    }

    #[test]
    fn refuses_truncated_and_garbled_records() {
        for cut in 0..LINE.len() - b" 987654 1000000 200 18446744073709551615".len() {
            assert_eq!(parse(&LINE[..cut]), None, "cut at {cut}");
        }
        assert_eq!(
            parse(b"1 (x) SS 1 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 5"),
            None
        );
        assert_eq!(
            parse(b"1 (x) S one 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 5"),
            None
        );
    }

    #[test]
    fn reads_this_process() {
        let me = read(std::process::id() as i32).unwrap();
        assert_eq!(me.ppid as u32, std::os::unix::process::parent_id());
        // The main thread (whose state this is) runs or waits for the test thread.
        assert!(
            matches!(me.state, b'R' | b'S'),
            "state {}",
            me.state as char
        );
        // SAFETY: getpgrp has no preconditions.
        assert_eq!(me.pgrp, unsafe { libc::getpgrp() });
        // SAFETY: getsid(0) has no preconditions.
        assert_eq!(me.session, unsafe { libc::getsid(0) });
    }

    #[test]
    fn absent_process_is_not_found() {
        let err = read(i32::MAX).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
