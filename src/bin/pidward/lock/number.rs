//! Numbers as flock(1) reads them (util-linux's `strutils`): integers as `strtoimax(3)` reads
//! them, and sizes with `K`/`M`/`G`... suffixes for `--start` and `--length`.
//!
//! The messages name the value and, as util-linux's `err(3)` does, the errno it stands for:
//! `EINVAL` for text that is not a number, `ERANGE` for a number out of range.

/// Why a number was refused: the errno util-linux reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// Not a number (`EINVAL`).
    Invalid,
    /// Out of range (`ERANGE`).
    Range,
}

const SPACE: [char; 6] = [' ', '\t', '\n', '\r', '\x0b', '\x0c'];

/// A decimal integer in `low..=high` as `strtoimax(text, 10)` reads it: leading white space
/// and a sign allowed, the whole text consumed.
pub fn integer(text: &str, low: i64, high: i64) -> Result<i64, Bad> {
    let body = text.trim_start_matches(SPACE);
    let (negative, digits) = match body.as_bytes().first() {
        Some(b'-') => (true, &body[1..]),
        Some(b'+') => (false, &body[1..]),
        _ => (false, body),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Bad::Invalid);
    }
    let magnitude: i128 = digits.parse().map_err(|_| Bad::Range)?;
    let value = if negative { -magnitude } else { magnitude };
    let value = i64::try_from(value).map_err(|_| Bad::Range)?;
    if !(low..=high).contains(&value) {
        return Err(Bad::Range);
    }
    Ok(value)
}

/// An unsigned integer as `strtoumax(text, &end, 0)` starts it (decimal, `0x` hexadecimal or
/// `0` octal): the value and the unread rest, or `None` if no digit was read.
fn leading_unsigned(text: &str) -> Option<(Result<u64, Bad>, &str)> {
    let body = text.trim_start_matches(SPACE);
    let body = body.strip_prefix('+').unwrap_or(body);
    let (radix, digits) = match body.as_bytes() {
        [b'0', b'x' | b'X', c, ..] if c.is_ascii_hexdigit() => (16, &body[2..]),
        [b'0', ..] => (8, body),
        _ => (10, body),
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let value = u64::from_str_radix(&digits[..end], radix).map_err(|_| Bad::Range);
    Some((value, &digits[end..]))
}

/// A size as util-linux's `strtosize` reads it: a non-negative integer, optionally with a
/// fraction and a suffix `K`, `M`, `G`, `T`, `P`, `E` (powers of 1024; `KiB` likewise, `KB`
/// powers of 1000). The fraction is added digit by digit as util-linux adds it.
pub fn size(text: &str) -> Result<u64, Bad> {
    if text.trim_start_matches(SPACE).starts_with('-') {
        return Err(Bad::Invalid);
    }
    let (value, mut rest) = leading_unsigned(text).ok_or(Bad::Invalid)?;
    let mut x = value?;
    if rest.is_empty() {
        return Ok(x);
    }
    let (mut frac, mut frac_zeros) = (0u64, 0u32);
    if let Some(after) = rest.strip_prefix('.') {
        let zeros = after.len() - after.trim_start_matches('0').len();
        frac_zeros = zeros as u32;
        let digits = &after[zeros..];
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        if end > 0 {
            frac = digits[..end].parse().map_err(|_| Bad::Range)?;
        }
        rest = &digits[end..];
        if rest.is_empty() {
            // A fraction needs a suffix.
            return Err(Bad::Invalid);
        }
    }
    let mut chars = rest.chars();
    let letter = chars.next().ok_or(Bad::Invalid)?;
    let base: u64 = match chars.as_str() {
        "" | "iB" | "ib" => 1024,
        "B" | "b" => 1000,
        _ => return Err(Bad::Invalid),
    };
    let power = "KMGTPEZY"
        .find(letter.to_ascii_uppercase())
        .ok_or(Bad::Invalid)? as u32
        + 1;
    let scale = base.checked_pow(power).ok_or(Bad::Range)?;
    x = x.checked_mul(scale).ok_or(Bad::Range)?;
    if frac > 0 {
        // util-linux: each digit d at decimal position p adds scale / (10^p / d).
        let mut div: u64 = 10;
        while div < frac {
            div = div.saturating_mul(10);
        }
        for _ in 0..frac_zeros {
            div = div.saturating_mul(10);
        }
        let mut pos: u64 = 1;
        while frac > 0 {
            let digit = frac % 10;
            let seg_div = div / pos;
            frac /= 10;
            pos = pos.saturating_mul(10);
            if digit > 0 && seg_div / digit > 0 {
                x = x.saturating_add(scale / (seg_div / digit));
            }
        }
    }
    Ok(x)
}
