//! Time as people and files write it: one parser of seconds, one duration format for messages,
//! and RFC 3339 timestamps, without a calendar dependency.
//!
//! Every number of seconds pidward reads (`lock -w`, `run --ready-timeout`, the waits of a stop
//! schedule) goes through [`parse_seconds`], and every duration it shows a person goes through
//! [`Human`], so that `status` and `lock` say `3m04s` alike; durations in logs and state files
//! are [`Seconds`], with fixed decimals.
//!
//! [`parse_seconds`] reads the grammar of C's `strtod(3)`, as flock(1) does for `-w` (it calls
//! `strtold`): decimal with an optional fraction and exponent, or hexadecimal (`0x1p-2`),
//! leading white space and a sign allowed, and the whole text must be consumed. Negative,
//! infinite and not-a-number values are errors of their own, so that a caller can answer each
//! the way its command's convention asks.
//!
//! Timestamps ([`Rfc3339`], [`parse_rfc3339`]) are UTC with milliseconds
//! (`2026-11-22T13:21:31.123Z`): the acquisition time recorded in lock files and start times in
//! JSON output. Days are converted with Howard Hinnant's `civil_from_days` / `days_from_civil`.

use std::fmt;
use std::time::{Duration, SystemTime};

/// Why a text is not a number of seconds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not a number at all (empty, trailing characters, not-a-number).
    #[error("'{text}' is not a number of seconds")]
    Invalid {
        /// The text as given.
        text: String,
    },
    /// A number below zero (`-0` is zero, not negative).
    #[error("'{text}' is a negative number of seconds")]
    Negative {
        /// The text as given.
        text: String,
    },
    /// Infinite, or more seconds than a [`Duration`] holds.
    #[error("'{text}' is too many seconds")]
    TooLarge {
        /// The text as given.
        text: String,
    },
    /// Not an RFC 3339 UTC timestamp.
    #[error("'{text}' is not an RFC 3339 UTC time")]
    Timestamp {
        /// The text as given.
        text: String,
    },
}

/// Read a number of seconds, fractions allowed, with the grammar of `strtod(3)`.
///
/// ```
/// use std::time::Duration;
/// use pidward::time::{parse_seconds, Error};
///
/// assert_eq!(parse_seconds("2.5")?, Duration::from_millis(2500));
/// assert_eq!(parse_seconds("1e2")?, Duration::from_secs(100));
/// assert_eq!(parse_seconds("0x1p-2")?, Duration::from_millis(250));
/// assert_eq!(parse_seconds("-0")?, Duration::ZERO);
/// assert!(matches!(parse_seconds("-1"), Err(Error::Negative { .. })));
/// assert!(matches!(parse_seconds("5s"), Err(Error::Invalid { .. })));
/// # Ok::<(), pidward::time::Error>(())
/// ```
pub fn parse_seconds(text: &str) -> Result<Duration, Error> {
    let invalid = || Error::Invalid { text: text.into() };
    // strtod skips leading white space (isspace: also \v and \f), never trailing.
    let body = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, unsigned) = match body.as_bytes().first() {
        Some(b'-') => (true, &body[1..]),
        Some(b'+') => (false, &body[1..]),
        _ => (false, body),
    };
    let hex = unsigned
        .get(..2)
        .is_some_and(|p| p.eq_ignore_ascii_case("0x"));
    let value = if hex {
        parse_hex_float(&unsigned[2..]).ok_or_else(invalid)?
    } else {
        // Rust's grammar is strtod's decimal one, plus "inf"/"infinity"/"nan": but it also
        // takes a sign, which was taken above already.
        if unsigned.starts_with(['+', '-']) {
            return Err(invalid());
        }
        unsigned.parse::<f64>().map_err(|_| invalid())?
    };
    if value.is_nan() {
        return Err(invalid());
    }
    if negative && value != 0.0 {
        return Err(Error::Negative { text: text.into() });
    }
    Duration::try_from_secs_f64(value).map_err(|_| Error::TooLarge { text: text.into() })
}

/// The part of a hexadecimal floating-point number after `0x`: digits, an optional fraction,
/// an optional binary exponent (`p-2`), rounded once to the nearest `f64` as `strtod` does.
///
/// The first 15 significant digits (60 bits) are kept exactly; later digits only move the
/// exponent, or set a sticky bit below the `f64`'s precision so that rounding stays correct.
/// Scaling by a power of two is then exact, so `0x0p99999` is 0 (not 0 × ∞) and a long
/// mantissa with a large negative exponent is finite.
fn parse_hex_float(text: &str) -> Option<f64> {
    let (mantissa, exponent) = match text.find(['p', 'P']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let (mut m, mut shift, mut kept, mut sticky) = (0u64, 0i64, 0, false);
    for (c, fraction) in int
        .chars()
        .map(|c| (c, false))
        .chain(frac.chars().map(|c| (c, true)))
    {
        let d = c.to_digit(16)?;
        if m == 0 && d == 0 {
            shift -= if fraction { 4 } else { 0 };
        } else if kept < 15 {
            m = m * 16 + u64::from(d);
            kept += 1;
            shift -= if fraction { 4 } else { 0 };
        } else {
            sticky |= d != 0;
            shift += if fraction { 0 } else { 4 };
        }
    }
    if let Some(e) = exponent {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let e: i64 = e.parse().unwrap_or(if e.starts_with('-') {
            -100_000
        } else {
            100_000
        });
        shift += e;
    }
    if m == 0 {
        return Some(0.0);
    }
    let value = (m | u64::from(sticky)) as f64;
    Some(match shift {
        1100.. => f64::INFINITY,
        ..-1200 => 0.0,
        _ => {
            let half = (shift / 2) as i32;
            value * 2f64.powi(half) * 2f64.powi(shift as i32 - half)
        }
    })
}

/// A duration for people, to the two largest units: `12s`, `3m04s`, `2h03m`, `4d02h`.
///
/// ```
/// use std::time::Duration;
/// use pidward::time::Human;
///
/// assert_eq!(Human(Duration::from_secs(184)).to_string(), "3m04s");
/// assert_eq!(Human(Duration::from_secs(90_000)).to_string(), "1d01h");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Human(pub Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_secs();
        match s {
            0..60 => write!(f, "{s}s"),
            60..3600 => write!(f, "{}m{:02}s", s / 60, s % 60),
            3600..86_400 => write!(f, "{}h{:02}m", s / 3600, s % 3600 / 60),
            _ => write!(f, "{}d{:02}h", s / 86_400, s % 86_400 / 3600),
        }
    }
}

/// A duration in seconds with a fixed number of decimals (at most 9), rounded to the
/// nearest, halves up: `0.006`, `12.0`, `3`; with `{:#}`, without trailing zeros (`0.41`,
/// `12`), as the lifecycle log and messages write a number of seconds.
///
/// The same text as `format!("{:.3}", d.as_secs_f64())` (but for a duration exactly halfway
/// between two, which the float may round down), in integer arithmetic: the code that writes
/// a lifecycle log or a state file at every exit does not carry float formatting.
///
/// ```
/// use std::time::Duration;
/// use pidward::time::Seconds;
///
/// assert_eq!(Seconds(Duration::from_micros(6_400), 3).to_string(), "0.006");
/// assert_eq!(Seconds(Duration::from_millis(11_960), 1).to_string(), "12.0");
/// assert_eq!(Seconds(Duration::from_millis(2_500), 0).to_string(), "3");
/// assert_eq!(format!("{:#}", Seconds(Duration::from_millis(410), 3)), "0.41");
/// assert_eq!(format!("{:#}", Seconds(Duration::from_millis(11_960), 1)), "12");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Duration, pub u8);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let decimals = u32::from(self.1.min(9));
        let unit = 10u32.pow(9 - decimals);
        let rounded = (self.0.subsec_nanos() + unit / 2) / unit;
        let scale = 10u32.pow(decimals);
        let (secs, frac) = if rounded == scale {
            (self.0.as_secs().saturating_add(1), 0)
        } else {
            (self.0.as_secs(), rounded)
        };
        let (mut frac, mut width) = (frac, decimals as usize);
        if f.alternate() {
            while width > 0 && frac % 10 == 0 {
                (frac, width) = (frac / 10, width - 1);
            }
        }
        if width == 0 {
            write!(f, "{secs}")
        } else {
            write!(f, "{secs}.{frac:0width$}")
        }
    }
}

/// A time as RFC 3339 UTC with milliseconds: `2026-11-22T13:21:31.123Z`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use pidward::time::{parse_rfc3339, Rfc3339};
///
/// let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_440_091_123);
/// assert_eq!(Rfc3339(t).to_string(), "2026-11-23T13:21:31.123Z");
/// assert_eq!(parse_rfc3339("2026-11-23T13:21:31.123Z")?, t);
/// # Ok::<(), pidward::time::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339(pub SystemTime);

impl Rfc3339 {
    /// The year, then month, day, hour, minute, second and millisecond, in UTC.
    fn fields(&self) -> (i64, [u32; 6]) {
        let d = self
            .0
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = d.as_secs() as i64;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
        let (y, m, day) = civil_from_days(days);
        let time = [rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_millis()];
        (y, [m, day, time[0], time[1], time[2], time[3]])
    }

    /// The text, as bytes: `2026-11-22T13:21:31.123Z`, always 24 of them (`None` past the year
    /// 9999, which [`Display`](fmt::Display) writes with more digits). Digit by digit, with no
    /// formatting machinery: the output relay stamps every line of `--output-timestamps`
    /// with one.
    pub(crate) fn bytes(&self) -> Option<[u8; 24]> {
        let (y, rest) = self.fields();
        let y = u32::try_from(y).ok().filter(|y| *y <= 9999)?;
        let mut out = *b"0000-00-00T00:00:00.000Z";
        // Where each field's last digit goes, and how many digits it has.
        let at = [(3, 4), (6, 2), (9, 2), (12, 2), (15, 2), (18, 2), (22, 3)];
        for ((end, width), mut v) in at.into_iter().zip(std::iter::once(y).chain(rest)) {
            for i in (end + 1 - width..=end).rev() {
                out[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        Some(out)
    }
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(bytes) = self.bytes() {
            // ASCII digits and separators only.
            return f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?);
        }
        let (y, [m, day, h, min, sec, ms]) = self.fields();
        write!(
            f,
            "{y:04}-{m:02}-{day:02}T{h:02}:{min:02}:{sec:02}.{ms:03}Z"
        )
    }
}

/// Read what [`Rfc3339`] writes (fractions of any length up to nanoseconds, `Z` or `+00:00`).
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, Error> {
    parse_utc(text).ok_or_else(|| Error::Timestamp { text: text.into() })
}

fn parse_utc(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let body = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix("+00:00"))?;
    let (date, time) = body.split_once('T')?;
    let mut date_parts = date.splitn(3, '-');
    let y: i64 = num(date_parts.next()?)?;
    let m: u32 = num(date_parts.next()?)?;
    let d: u32 = num(date_parts.next()?)?;
    let (hms, frac) = match time.split_once('.') {
        Some((hms, frac)) => (hms, frac),
        None => (time, ""),
    };
    let mut t = hms.splitn(3, ':');
    let (hh, mm, ss): (u64, u64, u64) = (num(t.next()?)?, num(t.next()?)?, num(t.next()?)?);
    // Four-digit years (what RFC 3339 writes), real calendar days: no February 30.
    if y > 9999 || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32)
    };
    let days = days_from_civil(y, m, d);
    let secs = u64::try_from(days).ok()? * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {

    #[test]
    fn seconds_match_the_float_format_but_at_exact_halves() {
        let mut n: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            // xorshift64: durations from nanoseconds to about a day.
            n ^= n << 13;
            n ^= n >> 7;
            n ^= n << 17;
            let d = Duration::from_nanos(n % (1u64 << (n % 47)));
            for decimals in [0u8, 1, 3] {
                let unit = 10u64.pow(9 - u32::from(decimals));
                if d.subsec_nanos() as u64 % unit == unit / 2 {
                    continue;
                }
                let float = format!("{:.*}", decimals as usize, d.as_secs_f64());
                assert_eq!(Seconds(d, decimals).to_string(), float, "{d:?}");
            }
        }
        assert_eq!(
            Seconds(Duration::from_millis(999_999), 0).to_string(),
            "1000"
        );
        assert_eq!(
            Seconds(Duration::from_nanos(999_999_999), 3).to_string(),
            "1.000"
        );
        assert_eq!(
            Seconds(Duration::MAX, 1).to_string(),
            u64::MAX.to_string() + ".0"
        );
        // `{:#}`: the float's text with its trailing zeros (and a bare point) trimmed.
        for ms in [
            0, 1, 10, 100, 410, 999, 1_000, 2_100, 12_000, 59_950, 3_600_005,
        ] {
            let d = Duration::from_millis(ms);
            for decimals in [0u8, 1, 3] {
                let float = format!("{:.*}", decimals as usize, d.as_secs_f64());
                let trimmed = if decimals == 0 {
                    float.as_str()
                } else {
                    float.trim_end_matches('0').trim_end_matches('.')
                };
                assert_eq!(format!("{:#}", Seconds(d, decimals)), trimmed, "{d:?}");
            }
        }
    }
    use super::*;

    fn format(t: SystemTime) -> String {
        Rfc3339(t).to_string()
    }

    fn parse(text: &str) -> Option<SystemTime> {
        parse_rfc3339(text).ok()
    }

    #[test]
    fn known_dates() {
        assert_eq!(format(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_795_440_091, 123_000_000);
        assert_eq!(format(t), "2026-11-23T13:21:31.123Z");
        assert_eq!(parse("2026-11-23T13:21:31.123Z"), Some(t));
        assert_eq!(
            parse("2000-02-29T00:00:00Z"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400))
        );
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-11-24 13:21:31Z",
            "x",
            "2026-11-24T13:21:31",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn bytes_are_the_text_and_end_at_the_year_9999() {
        // Every day of 1970-2100 at several times of day, and the edges of the fast form.
        for day in 0..47_482u64 {
            for (secs, nanos) in [(0, 0), (86_399, 999_999_999), (45_296, 7_000_000)] {
                let t = SystemTime::UNIX_EPOCH + Duration::new(day * 86_400 + secs, nanos);
                let bytes = Rfc3339(t).bytes().unwrap();
                let (days, rem) = ((day as i64), secs as i64);
                let (y, m, d) = civil_from_days(days);
                let text = format!(
                    "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
                    rem / 3600,
                    rem % 3600 / 60,
                    rem % 60,
                    nanos / 1_000_000
                );
                assert_eq!(std::str::from_utf8(&bytes).unwrap(), text);
                assert_eq!(format(t), text);
            }
        }
        let last = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799);
        assert_eq!(format(last), "9999-12-31T23:59:59.000Z");
        let after = last + Duration::from_secs(1);
        assert_eq!(Rfc3339(after).bytes(), None);
        assert_eq!(format(after), "10000-01-01T00:00:00.000Z");
    }

    #[test]
    fn round_trip_many() {
        for secs in (0..4_000_000_000u64).step_by(7_777_777) {
            let t = SystemTime::UNIX_EPOCH + Duration::new(secs, 5_000_000);
            assert_eq!(parse(&format(t)), Some(t));
        }
    }

    #[test]
    fn seconds_as_strtod_reads_them() {
        let ok = |t: &str, ms: u64| assert_eq!(parse_seconds(t), Ok(Duration::from_millis(ms)));
        ok("0", 0);
        ok("5", 5000);
        ok(" \t5", 5000);
        ok("+5", 5000);
        ok(".5", 500);
        ok("5.", 5000);
        ok("2.5e1", 25_000);
        ok("1E-3", 1);
        ok("0x10", 16_000);
        ok("0X.8", 500);
        ok("0x1p-2", 250);
        ok("0x1P+1", 2000);
        ok("-0", 0);
        ok("-0.0", 0);
        ok("-0x0", 0);
        for bad in [
            "", " ", "5 ", "5s", "abc", "nan", "-nan", "0x", "0xp1", "0x1p", "--1", "+-1",
        ] {
            assert!(
                matches!(parse_seconds(bad), Err(Error::Invalid { .. })),
                "{bad:?}: {:?}",
                parse_seconds(bad)
            );
        }
        for neg in ["-1", "-0.5", "-inf", "-0x1"] {
            assert!(
                matches!(parse_seconds(neg), Err(Error::Negative { .. })),
                "{neg}"
            );
        }
        for big in ["inf", "infinity", "1e30", "0x1p200"] {
            assert!(
                matches!(parse_seconds(big), Err(Error::TooLarge { .. })),
                "{big}"
            );
        }
    }

    #[test]
    fn human_durations() {
        let h = |s: u64| Human(Duration::from_secs(s)).to_string();
        assert_eq!(h(0), "0s");
        assert_eq!(h(59), "59s");
        assert_eq!(h(60), "1m00s");
        assert_eq!(h(184), "3m04s");
        assert_eq!(h(3600 + 180), "1h03m");
        assert_eq!(h(86_400 * 4 + 7200), "4d02h");
    }

    #[test]
    fn only_real_calendar_days_are_timestamps() {
        // Found by fuzz/fuzz_targets/duration.rs: 2022-02-29 read as 2022-03-01.
        for bad in [
            "2022-02-29T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "99999-01-01T00:00:00Z",
            "9223372036854775807-01-01T00:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        for good in [
            "2024-02-29T12:00:00Z",
            "2000-02-29T00:00:00Z",
            "9999-12-31T23:59:59.999Z",
        ] {
            let t = parse_rfc3339(good).unwrap();
            assert_eq!(Rfc3339(t).to_string()[..19], good[..19]);
        }
    }

    #[test]
    fn hexadecimal_seconds_read_as_strtod_reads_them() {
        // Found by fuzz/fuzz_targets/duration.rs: 0x0p20222 was 0 × ∞, not a number.
        assert_eq!(parse_seconds("0x0p20222"), Ok(Duration::ZERO));
        assert_eq!(parse_seconds("0x0.000p99999999999"), Ok(Duration::ZERO));
        let long = format!("0x{}p-1200", "f".repeat(300));
        assert_eq!(parse_seconds(&long), Ok(Duration::from_secs(1)));
        assert_eq!(parse_seconds("0x1.8p1"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_seconds("0x.8"), Ok(Duration::from_millis(500)));
        assert_eq!(
            parse_seconds("0x10000000000000000p-64"),
            Ok(Duration::from_secs(1))
        );
        assert!(matches!(
            parse_seconds("0x1p99999"),
            Err(Error::TooLarge { .. })
        ));
    }
}
