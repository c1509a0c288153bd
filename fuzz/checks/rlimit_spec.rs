//! Resource-limit specs ([`pidward::child::Rlimit`]'s `FromStr`, `--rlimit NAME=SOFT[:HARD]`):
//! every value accepted is plain decimal or `unlimited`/`infinity`; a number is never the
//! kernel's `RLIM_INFINITY` in disguise; soft never exceeds hard; `Display` parses back to the
//! same limit.

use pidward::child::Rlimit;

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(limit) = text.parse::<Rlimit>() else {
        return;
    };
    let (_, values) = text.split_once('=').expect("an accepted spec has '='");
    for v in values.split(':') {
        let v = v.trim();
        assert!(
            v == "unlimited"
                || v == "infinity"
                || (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())),
            "{text:?}: accepted the value {v:?}"
        );
    }
    for v in [limit.soft(), limit.hard()] {
        assert_ne!(
            v,
            Some(libc::RLIM_INFINITY),
            "{text:?}: a number that means unlimited"
        );
    }
    match (limit.soft(), limit.hard()) {
        (Some(s), Some(h)) => assert!(s <= h, "{text:?}: soft {s} above hard {h}"),
        (None, Some(h)) => panic!("{text:?}: unlimited soft above hard {h}"),
        _ => {}
    }
    let shown = limit.to_string();
    assert_eq!(
        shown.parse::<Rlimit>().ok(),
        Some(limit),
        "{shown:?} does not parse back"
    );
}
