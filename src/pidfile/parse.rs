//! The PID-file format: `PID\n` in decimal (FHS).
//!
//! Readers take the first line, trim surrounding ASCII white space and accept only plain
//! decimal digits whose value is in `1..=pid_max`. Leading zeros are accepted (the value is
//! what counts, as for C's `strtol`); signs, underscores, hex, octal prefixes, inner spaces
//! and anything else are invalid and reported with the offending text, never passed to
//! `kill()`.

use std::fmt;

/// Why a PID file's content is not a PID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// The file is empty, or its first line is only white space.
    #[error("the file is empty")]
    Empty,
    /// The path is not a regular file.
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    /// The first line is longer than any PID could be.
    #[error("the first line is longer than {} bytes", super::MAX_FIRST_LINE)]
    TooLong,
    /// The file is far larger than a PID file.
    #[error("the file is {0} bytes long, too large for a PID file")]
    TooLarge(u64),
    /// The first line is not plain decimal digits.
    #[error("{0} is not a decimal PID")]
    NotDecimal(Shown),
    /// Decimal, but 0 or above `pid_max`.
    #[error("{0} is out of the PID range 1..={1}")]
    OutOfRange(Shown, u32),
}

impl Invalid {
    /// Whether the content names no process at all, rather than being something other than a
    /// PID: an empty file, or a decimal number above `pid_max` (no process can have it). An
    /// unlocked file like that is stale, not invalid. Zero is not a PID: invalid.
    ///
    /// ```
    /// use pidward::pidfile::parse;
    /// assert!(parse(b"", 32768).unwrap_err().names_no_process());
    /// assert!(parse(b"99999999\n", 32768).unwrap_err().names_no_process());
    /// assert!(!parse(b"0\n", 32768).unwrap_err().names_no_process());
    /// assert!(!parse(b"12a\n", 32768).unwrap_err().names_no_process());
    /// ```
    pub fn names_no_process(&self) -> bool {
        match self {
            Invalid::Empty => true,
            Invalid::OutOfRange(Shown(text), _) => text.iter().any(|&b| b != b'0'),
            _ => false,
        }
    }
}

/// Offending file content, shown quoted with non-printable bytes escaped.
#[derive(Clone, PartialEq, Eq)]
pub struct Shown(pub Vec<u8>);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &b in &self.0 {
            match b {
                b'"' => f.write_str("\\\"")?,
                b'\\' => f.write_str("\\\\")?,
                0x20..=0x7e => write!(f, "{}", b as char)?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        f.write_str("\"")
    }
}

impl fmt::Debug for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// [`parse`] against this system's `pid_max`, which is read only when no process has the PID:
/// a live process's PID is in range whatever `pid_max` says now (it may have been lowered
/// since), and `kill(pid, 0)` is one system call where reading `/proc/sys/kernel/pid_max` is
/// three.
pub(crate) fn parse_here(content: &[u8]) -> Result<u32, Invalid> {
    match parse(content, crate::liveness::PID_MAX_LIMIT) {
        Ok(pid) if crate::liveness::exists(pid) => Ok(pid),
        _ => parse(content, crate::liveness::pid_max()),
    }
}

/// Parse the content of a PID file (its start is enough: see the module docs).
///
/// ```
/// use pidward::pidfile::{parse, Invalid};
/// assert_eq!(parse(b"1234\n", 4194304), Ok(1234));
/// assert_eq!(parse(b"  77 \r\nignored", 4194304), Ok(77));
/// assert!(matches!(parse(b"+5\n", 4194304), Err(Invalid::NotDecimal(_))));
/// assert!(matches!(parse(b"0\n", 4194304), Err(Invalid::OutOfRange(..))));
/// assert_eq!(parse(b" \n", 4194304), Err(Invalid::Empty));
/// ```
pub fn parse(content: &[u8], pid_max: u32) -> Result<u32, Invalid> {
    let line = match content.iter().position(|&b| b == b'\n') {
        Some(end) => &content[..end],
        None => content,
    };
    if line.len() > super::MAX_FIRST_LINE {
        return Err(Invalid::TooLong);
    }
    let text = line.trim_ascii();
    if text.is_empty() {
        return Err(Invalid::Empty);
    }
    if !text.iter().all(u8::is_ascii_digit) {
        return Err(Invalid::NotDecimal(Shown(text.to_vec())));
    }
    let significant = {
        let start = text.iter().position(|&b| b != b'0').unwrap_or(text.len());
        &text[start..]
    };
    let out_of_range = || Invalid::OutOfRange(Shown(text.to_vec()), pid_max);
    if significant.is_empty() || significant.len() > 10 {
        return Err(out_of_range());
    }
    let value: u64 = significant
        .iter()
        .fold(0, |acc, &d| acc * 10 + u64::from(d - b'0'));
    match u32::try_from(value) {
        Ok(pid) if pid <= pid_max => Ok(pid),
        _ => Err(out_of_range()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX: u32 = 4_194_304;

    #[test]
    fn hostile_contents() {
        assert_eq!(parse(b"", MAX), Err(Invalid::Empty));
        assert_eq!(parse(b" \t\r\n", MAX), Err(Invalid::Empty));
        for bad in [
            &b"-1"[..],
            b"+5",
            b"1_000",
            b"0x10",
            b"12 34",
            b"1e3",
            b"\xff\xfe",
            b"12\x00",
        ] {
            assert!(
                matches!(parse(bad, MAX), Err(Invalid::NotDecimal(_))),
                "{bad:?}"
            );
        }
        for bad in [
            &b"0"[..],
            b"000",
            b"4194305",
            b"99999999999",
            b"18446744073709551617",
        ] {
            assert!(
                matches!(parse(bad, MAX), Err(Invalid::OutOfRange(..))),
                "{bad:?}"
            );
        }
        assert_eq!(parse(b"0000000000000000000042", MAX), Ok(42));
        assert_eq!(parse(&[b'7'; 65], MAX), Err(Invalid::TooLong));
        assert_eq!(parse(b"4194304\n", MAX), Ok(MAX));
    }

    #[test]
    fn shown_escapes() {
        let e = parse(b"a\"\\\x01b", MAX).unwrap_err();
        assert_eq!(e.to_string(), r#""a\"\\\x01b" is not a decimal PID"#);
    }

    proptest! {
        #[test]
        fn accepts_exactly_the_valid_range(
            pid in 1u32..=MAX,
            lead in 0usize..5,
            ws in "[ \t\r]{0,3}",
            tail in ".*",
        ) {
            let text = format!("{ws}{}{pid}{ws}\n{tail}", "0".repeat(lead));
            prop_assert_eq!(parse(text.as_bytes(), MAX), Ok(pid));
        }

        #[test]
        fn never_panics_and_never_accepts_nondigits(
            bytes in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            if let Ok(pid) = parse(&bytes, MAX) {
                let line = bytes.split(|&b| b == b'\n').next().unwrap().trim_ascii();
                prop_assert!(line.iter().all(u8::is_ascii_digit));
                prop_assert!((1..=MAX).contains(&pid));
                let value: u64 = std::str::from_utf8(line).unwrap().parse().unwrap();
                prop_assert_eq!(value, u64::from(pid));
            }
        }

        #[test]
        fn agrees_with_std_on_digit_strings(digits in "[0-9]{1,25}") {
            let want = digits.parse::<u128>().ok().filter(|v| (1..=u128::from(MAX)).contains(v));
            prop_assert_eq!(parse(digits.as_bytes(), MAX).ok().map(u128::from), want);
        }
    }
}
