//! Dropping privileges: resolve before fork, switch after.
//!
//! Switching to another user is two jobs with opposite constraints, so it is two types:
//!
//! - [`Credentials::resolve`] runs in the caller, before any fork. It looks the user and group
//!   up in the user database (which may allocate, read files, or talk to NSS services), builds
//!   the full list of supplementary groups with `getgrouplist(3)`, and reports every problem
//!   (unknown user, unknown group, not root) as an [`Error`] where the caller can print it.
//! - The switch itself is a step of the child set-up ([`crate::child`]), between `fork` and
//!   `exec`, with raw system calls on the values resolved here: no allocation, no lookup.
//!
//! The order is fixed, because each step needs the privilege that the next one removes:
//! `setgroups` (the user's groups, or exactly the named group) → `setresgid` → `setresuid` →
//! verify that `setuid(0)` and `setgid(0)` now fail. A process that could regain root after
//! the drop is reported as a failure ([`Step::RegainRoot`](crate::child::Step::RegainRoot)),
//! never silently accepted; so is a failed `setgroups`.
//!
//! Effective-only credentials (twistd's `--euid`) change just the effective user and group
//! ids: the real and saved ids stay, so the process can switch back. That mode exists for
//! programs that need to regain root later on purpose; it skips the regain-root check.
//!
//! Asking for the ids the process already runs as is not an error: there is nothing to drop.
//! [`Credentials::resolve`] logs a warning, [`Credentials::is_noop`] says so, and the drop does
//! nothing. Asking a process that is not root to become someone else fails at resolution,
//! before anything was forked.
//!
//! ```
//! use pidward::privileges::Credentials;
//!
//! // Resolution happens up front; errors name the user or group.
//! let err = Credentials::resolve(Some("no-such-user-here"), None).unwrap_err();
//! assert!(err.to_string().contains("no-such-user-here"));
//!
//! // Our own uid is always fine: nothing to drop.
//! let me = nix::unistd::geteuid().to_string();
//! let creds = Credentials::resolve(Some(&me), None)?;
//! assert_eq!(creds.uid(), Some(nix::unistd::geteuid().as_raw()));
//! # Ok::<(), pidward::privileges::Error>(())
//! ```

use std::ffi::CString;
use std::io;

use nix::unistd::{Gid, Group, Uid, User};

/// Why a user or group could not be resolved, or cannot be switched to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No user with this name (and it is not a number).
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// No group with this name (and it is not a number).
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    /// The user was given as a number that has no entry in the user database, and no group
    /// was named, so there is no primary group to switch to.
    #[error(
        "user {0} has no entry in the user database, so it has no primary group: name one (USER:GROUP or --group)"
    )]
    NoPrimaryGroup(u32),
    /// A name contains a NUL byte or is empty.
    #[error("invalid user or group name {0:?}")]
    InvalidName(String),
    /// The user database could not be read.
    #[error("looking up {name:?}: {source}")]
    Lookup {
        /// The user or group name being looked up.
        name: String,
        /// The error of `getpwnam_r`, `getgrnam_r` or `getgrouplist`.
        source: io::Error,
    },
    /// The process is not root, so it cannot switch to other ids.
    #[error(
        "cannot switch to uid {uid} gid {gid}: this process runs as uid {current_uid} and is not root"
    )]
    NotRoot {
        /// The uid asked for (or the current one when only a group was named).
        uid: u32,
        /// The gid asked for (or the current one).
        gid: u32,
        /// The effective uid of this process.
        current_uid: u32,
    },
}

/// User, group and supplementary groups to switch to, resolved ahead of time.
///
/// Built by [`Credentials::resolve`] before forking; applied by the child set-up
/// ([`Setup::credentials`](crate::child::Setup::credentials)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    uid: Option<u32>,
    gid: Option<u32>,
    groups: Option<Vec<libc::gid_t>>,
    user_name: Option<String>,
    effective_only: bool,
    noop: bool,
}

impl Credentials {
    /// Resolves a user and/or group, each given by name or by number.
    ///
    /// - A user alone: its uid, its primary group, and all its supplementary groups
    ///   (`getgrouplist(3)`, as `initgroups(3)` would set them).
    /// - A user and a group: the user's uid, and exactly the named group as primary and only
    ///   supplementary group.
    /// - A group alone: the uid is unchanged; the named group becomes the primary and only
    ///   supplementary group.
    ///
    /// A name is looked up first; a string that names nobody but is a number is taken as a
    /// numeric id (which need not exist in the database, except that a numeric user with no
    /// entry needs a group). Asking for the current ids is allowed and logged as a warning
    /// ([`is_noop`](Self::is_noop)); asking for other ids without being root is
    /// [`Error::NotRoot`].
    pub fn resolve(user: Option<&str>, group: Option<&str>) -> Result<Credentials, Error> {
        let group = group.map(resolve_group).transpose()?;
        let mut creds = Credentials {
            uid: None,
            gid: None,
            groups: None,
            user_name: None,
            effective_only: false,
            noop: false,
        };
        if let Some(user) = user {
            let (uid, entry) = resolve_user(user)?;
            creds.uid = Some(uid);
            match (group, entry) {
                (Some(gid), _) => {
                    creds.gid = Some(gid);
                    creds.groups = Some(vec![gid]);
                }
                (None, Some(entry)) => {
                    let name = CString::new(entry.name.clone())
                        .map_err(|_| Error::InvalidName(entry.name.clone()))?;
                    let groups =
                        nix::unistd::getgrouplist(&name, entry.gid).map_err(|e| Error::Lookup {
                            name: entry.name.clone(),
                            source: e.into(),
                        })?;
                    creds.gid = Some(entry.gid.as_raw());
                    creds.groups = Some(groups.into_iter().map(Gid::as_raw).collect());
                    creds.user_name = Some(entry.name);
                }
                (None, None) => return Err(Error::NoPrimaryGroup(uid)),
            }
        } else if let Some(gid) = group {
            creds.gid = Some(gid);
            creds.groups = Some(vec![gid]);
        }
        creds.check_permission()?;
        Ok(creds)
    }

    /// Numeric ids taken as they are, without a look-up or a permission check (the kernel
    /// decides, at the switch): `groups` replaces the supplementary groups when given.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn from_ids(
        uid: Option<u32>,
        gid: Option<u32>,
        groups: Option<Vec<u32>>,
    ) -> Credentials {
        Credentials {
            uid,
            gid,
            groups,
            user_name: None,
            effective_only: false,
            noop: false,
        }
    }

    /// Switches only the effective user and group ids (twistd's `euid` option), keeping the
    /// real and saved ids, so that the process can switch back later.
    ///
    /// The supplementary groups are still replaced. Since regaining root is the point of this
    /// mode, the switch does not check that it fails.
    pub fn effective_only(mut self, effective_only: bool) -> Credentials {
        self.effective_only = effective_only;
        self.noop = self.compute_noop();
        self
    }

    /// The uid to switch to, if one was asked for.
    pub fn uid(&self) -> Option<u32> {
        self.uid
    }

    /// The primary gid to switch to, if one was asked for.
    pub fn gid(&self) -> Option<u32> {
        self.gid
    }

    /// The supplementary groups to set, if they are to be replaced.
    pub fn groups(&self) -> Option<&[u32]> {
        self.groups.as_deref()
    }

    /// The user's name, when the user was found in the user database.
    pub fn user_name(&self) -> Option<&str> {
        self.user_name.as_deref()
    }

    /// Whether only the effective ids change (see [`effective_only`](Self::effective_only)).
    pub fn is_effective_only(&self) -> bool {
        self.effective_only
    }

    /// True when the process already runs with these ids and is not root, so that the switch
    /// has nothing to do.
    pub fn is_noop(&self) -> bool {
        self.noop
    }

    /// Whether switching needs no system call: not root, and already running with the ids.
    fn compute_noop(&self) -> bool {
        let euid = nix::unistd::geteuid().as_raw();
        let ruid = nix::unistd::getuid().as_raw();
        let egid = nix::unistd::getegid().as_raw();
        let rgid = nix::unistd::getgid().as_raw();
        if euid == 0 {
            return false;
        }
        let uid_same = self
            .uid
            .is_none_or(|u| u == euid && (self.effective_only || u == ruid));
        let gid_same = self
            .gid
            .is_none_or(|g| g == egid && (self.effective_only || g == rgid));
        uid_same && gid_same
    }

    /// Fails early when the switch cannot work, and warns when there is nothing to do.
    fn check_permission(&mut self) -> Result<(), Error> {
        self.noop = self.compute_noop();
        let euid = nix::unistd::geteuid().as_raw();
        if self.noop {
            tracing::warn!(
                uid = euid,
                "already running as the requested user and group; there are no privileges to drop"
            );
        } else if euid != 0 {
            return Err(Error::NotRoot {
                uid: self.uid.unwrap_or(euid),
                gid: self.gid.unwrap_or_else(|| nix::unistd::getegid().as_raw()),
                current_uid: euid,
            });
        } else if self.uid == Some(0) || (self.uid.is_none() && self.gid.is_some()) {
            tracing::warn!("staying root: only the groups change");
        }
        Ok(())
    }
}

/// Looks a user up by name, then by number: the uid and the database entry if there is one.
fn resolve_user(user: &str) -> Result<(u32, Option<User>), Error> {
    if user.is_empty() || user.contains('\0') {
        return Err(Error::InvalidName(user.to_owned()));
    }
    let lookup = |source: nix::Error| Error::Lookup {
        name: user.to_owned(),
        source: source.into(),
    };
    if let Some(entry) = User::from_name(user).map_err(lookup)? {
        return Ok((entry.uid.as_raw(), Some(entry)));
    }
    let Some(uid) = numeric_id(user) else {
        return Err(Error::UnknownUser(user.to_owned()));
    };
    let entry = User::from_uid(Uid::from_raw(uid)).map_err(lookup)?;
    Ok((uid, entry))
}

/// Looks a group up by name, then by number.
fn resolve_group(group: &str) -> Result<u32, Error> {
    if group.is_empty() || group.contains('\0') {
        return Err(Error::InvalidName(group.to_owned()));
    }
    let lookup = |source: nix::Error| Error::Lookup {
        name: group.to_owned(),
        source: source.into(),
    };
    if let Some(entry) = Group::from_name(group).map_err(lookup)? {
        return Ok(entry.gid.as_raw());
    }
    numeric_id(group).ok_or_else(|| Error::UnknownGroup(group.to_owned()))
}

/// A numeric user or group id: plain decimal (no sign), and never `(uid_t) -1`, which
/// setresuid(2) and setresgid(2) read as "leave this id unchanged".
fn numeric_id(text: &str) -> Option<u32> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&id| id != u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_are_errors_naming_them() {
        let e = Credentials::resolve(Some("pidward-no-such-user"), None).unwrap_err();
        assert!(matches!(e, Error::UnknownUser(ref n) if n == "pidward-no-such-user"));
        let e = Credentials::resolve(None, Some("pidward-no-such-group")).unwrap_err();
        assert!(matches!(e, Error::UnknownGroup(ref n) if n == "pidward-no-such-group"));
        let e = Credentials::resolve(Some(""), None).unwrap_err();
        assert!(matches!(e, Error::InvalidName(_)));
    }

    #[test]
    fn root_resolves_with_its_groups() {
        let c = Credentials::resolve(Some("root"), None).unwrap();
        assert_eq!(c.uid(), Some(0));
        assert_eq!(c.gid(), Some(0));
        assert!(c.groups().unwrap().contains(&0));
        assert_eq!(c.user_name(), Some("root"));
    }

    #[test]
    fn a_named_group_is_the_only_group() {
        let c = Credentials::resolve(Some("root"), Some("0")).unwrap();
        assert_eq!(c.groups(), Some(&[0][..]));
    }

    #[test]
    fn numeric_user_without_entry_needs_a_group() {
        let e = Credentials::resolve(Some("3999999"), None);
        if nix::unistd::geteuid().is_root() {
            assert!(matches!(e, Err(Error::NoPrimaryGroup(3999999))));
            let c = Credentials::resolve(Some("3999999"), Some("3999998")).unwrap();
            assert_eq!((c.uid(), c.gid()), (Some(3999999), Some(3999998)));
        } else {
            assert!(e.is_err());
        }
    }

    #[test]
    fn numeric_ids_are_plain_decimal_and_never_minus_one() {
        // Found by fuzz/fuzz_targets/user_group.rs: "+5" resolved to uid 5. And 4294967295 is
        // (uid_t) -1, "leave unchanged" to setresuid(2): a drop to it would keep root.
        for bad in ["+5", "-1", " 5", "4294967295", "0x10"] {
            let e = Credentials::resolve(Some(bad), Some("0")).unwrap_err();
            assert!(
                matches!(e, Error::UnknownUser(ref n) if n == bad),
                "{bad}: {e}"
            );
            let e = Credentials::resolve(None, Some(bad)).unwrap_err();
            assert!(
                matches!(e, Error::UnknownGroup(ref n) if n == bad),
                "{bad}: {e}"
            );
        }
        if nix::unistd::geteuid().is_root() {
            let c = Credentials::resolve(Some("4294967294"), Some("4294967294")).unwrap();
            assert_eq!((c.uid(), c.gid()), (Some(4294967294), Some(4294967294)));
        }
    }
}
