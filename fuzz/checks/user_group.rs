//! User and group specs ([`pidward::privileges::Credentials::resolve`], `--user USER[:GROUP]`,
//! `--group`): an id accepted is the one the user database gives the name, or the value of a
//! plain decimal number; never `-1` (`(uid_t) -1` tells setresuid(2) "leave unchanged", so
//! that "drop" would keep root); resolving the id written in decimal gives the same id.

use nix::unistd::{Group, User};
use pidward::privileges::Credentials;

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (user, group) = match text.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (text, None),
    };
    if let Ok(c) = Credentials::resolve(Some(user), group) {
        let uid = c.uid().expect("a user was named");
        assert_eq!(
            id_of(user, true),
            Some(uid),
            "user {user:?} resolved to uid {uid}"
        );
        if let Some(g) = group {
            let gid = c.gid().expect("a group was named");
            assert_eq!(
                id_of(g, false),
                Some(gid),
                "group {g:?} resolved to gid {gid}"
            );
            assert_eq!(c.groups(), Some(&[gid][..]));
        }
        let again = Credentials::resolve(Some(&uid.to_string()), group).expect("numeric uid");
        assert_eq!(again.uid(), Some(uid));
    }
    if let Ok(c) = Credentials::resolve(None, Some(text)) {
        let gid = c.gid().expect("a group was named");
        assert_eq!(
            id_of(text, false),
            Some(gid),
            "group {text:?} resolved to gid {gid}"
        );
        assert_eq!(c.uid(), None);
    }
}

/// What a spec should resolve to: the database entry of the name, else a plain decimal id
/// other than -1.
fn id_of(spec: &str, user: bool) -> Option<u32> {
    let entry = if user {
        User::from_name(spec).ok().flatten().map(|u| u.uid.as_raw())
    } else {
        Group::from_name(spec)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    };
    entry.or_else(|| {
        if spec.is_empty() || !spec.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        spec.parse::<u32>().ok().filter(|&id| id != u32::MAX)
    })
}
