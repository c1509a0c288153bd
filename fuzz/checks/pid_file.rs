//! PID file content ([`pidward::pidfile::parse`]): a PID accepted is in `1..=pid_max` and is
//! exactly the value of the plain decimal first line; every such line is accepted; what the
//! writer writes (`PID\n`) parses back to the same PID.

use pidward::pidfile::parse;

/// The longest first line a reader looks at (`pidfile::MAX_FIRST_LINE`).
const MAX_FIRST_LINE: usize = 64;

pub fn check(data: &[u8]) {
    let line = data.split(|&b| b == b'\n').next().unwrap_or_default();
    let text = line.trim_ascii();
    let plain = !text.is_empty() && text.iter().all(u8::is_ascii_digit);
    // The value of a plain decimal line, saturated far above any pid_max.
    let value = text.iter().fold(0u64, |acc, &d| {
        (acc * 10 + u64::from(d.wrapping_sub(b'0'))).min(1 << 40)
    });
    for pid_max in [1, 32_768, 4_194_304, u32::MAX] {
        match parse(data, pid_max) {
            Ok(pid) => {
                assert!((1..=pid_max).contains(&pid), "{pid} outside 1..={pid_max}");
                assert!(plain, "accepted {text:?}, which is not plain decimal");
                assert!(
                    line.len() <= MAX_FIRST_LINE,
                    "accepted a {}-byte line",
                    line.len()
                );
                assert_eq!(u64::from(pid), value, "{text:?} read as {pid}");
                assert_eq!(parse(format!("{pid}\n").as_bytes(), pid_max), Ok(pid));
            }
            Err(e) => assert!(
                !(plain
                    && line.len() <= MAX_FIRST_LINE
                    && (1..=u64::from(pid_max)).contains(&value)),
                "refused {text:?} (pid_max {pid_max}): {e}"
            ),
        }
    }
}
