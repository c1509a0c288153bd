//! Durations and timestamps ([`pidward::time`]).
//!
//! - [`parse_seconds`] agrees with C's `strtod(3)` (the grammar it promises, and what flock(1)
//!   uses for `-w`): the same texts are numbers, negative or too large, and the same value is
//!   read (exactly for decimal; to within rounding for hexadecimal).
//! - [`parse_rfc3339`] accepts only real calendar times of years 1970..=9999 (no February 30),
//!   and what [`Rfc3339`] writes parses back to the same instant at millisecond precision.

use std::ffi::CString;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pidward::time::{Error, Human, Rfc3339, parse_rfc3339, parse_seconds};

pub fn check(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        seconds(text);
        timestamp(text);
    }
    if data.len() >= 12 {
        // An instant from the bytes, within what RFC 3339 with four-digit years can show.
        let secs = u64::from_le_bytes(data[..8].try_into().unwrap()) % 253_402_300_800;
        let nanos = u32::from_le_bytes(data[8..12].try_into().unwrap()) % 1_000_000_000;
        let t = UNIX_EPOCH + Duration::new(secs, nanos);
        let shown = Rfc3339(t).to_string();
        assert_eq!(parse_rfc3339(&shown).ok(), Some(to_millis(t)), "{shown}");
        let _ = Human(Duration::new(secs, nanos)).to_string();
    }
}

fn seconds(text: &str) {
    let got = parse_seconds(text);
    if let Ok(d) = &got {
        let _ = Human(*d).to_string();
    }
    let Ok(c) = CString::new(text) else {
        assert!(got.is_err(), "{text:?} has a NUL byte");
        return;
    };
    let mut end = std::ptr::null_mut();
    // SAFETY: `c` is a NUL-terminated string that outlives the call; `end` is written by
    // strtod to point into it.
    let value = unsafe { libc::strtod(c.as_ptr(), &mut end) };
    let consumed = end as usize - c.as_ptr() as usize;
    let whole = consumed == text.len() && !text.is_empty();
    let want = if !whole || value.is_nan() {
        Err("invalid")
    } else if value < 0.0 {
        Err("negative")
    } else {
        Duration::try_from_secs_f64(value).map_err(|_| "too large")
    };
    match (&got, want) {
        (Ok(d), Ok(w)) => {
            let hex = text.to_ascii_lowercase().contains("0x");
            let slack = if hex {
                Duration::from_nanos(1) + w.mul_f64(1e-15)
            } else {
                Duration::ZERO
            };
            let diff = if *d > w { *d - w } else { w - *d };
            assert!(diff <= slack, "{text:?}: read {d:?}, strtod reads {w:?}");
        }
        (Err(Error::Invalid { .. }), Err("invalid"))
        | (Err(Error::Negative { .. }), Err("negative"))
        | (Err(Error::TooLarge { .. }), Err("too large")) => {}
        (got, want) => panic!("{text:?}: read {got:?}, strtod reads {want:?} ({value})"),
    }
}

fn timestamp(text: &str) {
    let Ok(t) = parse_rfc3339(text) else {
        return;
    };
    assert!(t >= UNIX_EPOCH);
    let shown = Rfc3339(t).to_string();
    assert_eq!(
        parse_rfc3339(&shown).ok(),
        Some(to_millis(t)),
        "{text:?} shows as {shown}"
    );
    // The calendar fields read are the ones shown (a leap second rolls over to the next
    // minute: its fields cannot survive).
    let fields = |s: &str| -> Vec<u64> {
        s.trim()
            .split(['-', 'T', ':', '.', 'Z', '+'])
            .take(6)
            .map(|f| f.parse().unwrap_or(u64::MAX))
            .collect()
    };
    let (read, written) = (fields(text), fields(&shown));
    if read.get(5) != Some(&60) {
        assert_eq!(read, written, "{text:?} read as {shown}");
    }
}

fn to_millis(t: SystemTime) -> SystemTime {
    let d = t.duration_since(UNIX_EPOCH).unwrap();
    UNIX_EPOCH + Duration::new(d.as_secs(), d.subsec_millis() * 1_000_000)
}
