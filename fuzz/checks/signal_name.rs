//! Signal names and numbers ([`pidward::Signal`]'s `FromStr`): a signal accepted has a number
//! the system has (`1..=SIGRTMAX`); its canonical name, `Display` and number all parse back
//! to it.

use pidward::Signal;

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(signal) = text.parse::<Signal>() else {
        return;
    };
    let n = signal.as_raw();
    assert!(
        (1..=libc::SIGRTMAX()).contains(&n),
        "{text:?} gave signal {n}"
    );
    assert_eq!(Signal::from_raw(n), Some(signal));
    let name = signal.name();
    assert_eq!(signal.to_string(), name);
    assert_eq!(
        name.parse::<Signal>().ok(),
        Some(signal),
        "{name:?} does not parse back"
    );
    assert_eq!(n.to_string().parse::<Signal>().ok(), Some(signal));
    if !name.starts_with(|c: char| c.is_ascii_digit()) {
        let prefixed = format!("SIG{}", name.to_ascii_lowercase());
        assert_eq!(
            prefixed.parse::<Signal>().ok(),
            Some(signal),
            "{prefixed:?}"
        );
    }
}
