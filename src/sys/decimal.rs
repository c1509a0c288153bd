//! Integers as decimal text without allocating.

/// An integer formatted in decimal on the stack: safe where `format!` is not (after `fork`,
/// in a signal handler) and free of allocation where it is.
///
/// Async-signal-safe.
///
/// ```ignore
/// assert_eq!(Decimal::new(-42).as_bytes(), b"-42");
/// ```
#[derive(Clone, Copy)]
pub struct Decimal {
    /// Digits right-aligned; `i64::MIN` needs all 20 bytes (sign and 19 digits).
    buf: [u8; 20],
    start: usize,
}

impl Decimal {
    /// Formats `value`: an optional `-` and its digits, no leading zeros.
    pub fn new(value: i64) -> Decimal {
        let mut buf = [0u8; 20];
        let mut start = buf.len();
        let mut v = value.unsigned_abs();
        loop {
            start -= 1;
            buf[start] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if value < 0 {
            start -= 1;
            buf[start] = b'-';
        }
        Decimal { buf, start }
    }

    /// The text, ASCII.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

impl std::fmt::Debug for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // ASCII digits and a sign: always UTF-8.
        f.write_str(std::str::from_utf8(self.as_bytes()).unwrap_or("?"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edges() {
        assert_eq!(Decimal::new(0).as_bytes(), b"0");
        assert_eq!(Decimal::new(-42).as_bytes(), b"-42");
        assert_eq!(Decimal::new(i64::MAX).as_bytes(), b"9223372036854775807");
        assert_eq!(Decimal::new(i64::MIN).as_bytes(), b"-9223372036854775808");
    }

    proptest! {
        #[test]
        fn agrees_with_std(v in any::<i64>()) {
            let (d, s) = (Decimal::new(v), v.to_string());
            prop_assert_eq!(d.as_bytes(), s.as_bytes());
        }
    }
}
