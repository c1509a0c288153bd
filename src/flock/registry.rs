//! The re-entry registry: the locks this process already holds, by inode.
//!
//! flock(2) locks belong to open file descriptions, so a second `open` + `flock` of the same
//! file in the same process conflicts with the first, and a program that acquires its own PID
//! file twice would think itself already running. The guards ([`PidFile`](crate::pidfile),
//! [`LockFile`](crate::lockfile)) remember what they hold here, weakly, so that a second
//! acquisition by the owner shares the first one's lock instead.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The locks this process holds, by inode, so that a second acquisition by the owner can
/// share the first one's lock instead of failing against itself (flock(2) locks belong to open
/// file descriptions: a second `open` in the same process conflicts with the first).
pub(crate) struct Registry<T>(std::sync::Mutex<Vec<Entry<T>>>);

/// An inode `(dev, ino)` and the guard holding it.
type Entry<T> = ((u64, u64), std::sync::Weak<T>);

impl<T> Registry<T> {
    pub(crate) const fn new() -> Registry<T> {
        Registry(std::sync::Mutex::new(Vec::new()))
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Entry<T>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remember that we hold inode `(dev, ino)` through `held`.
    pub(crate) fn insert(&self, dev: u64, ino: u64, held: &std::sync::Arc<T>) {
        let mut e = self.entries();
        e.retain(|(_, w)| w.strong_count() > 0);
        e.push(((dev, ino), std::sync::Arc::downgrade(held)));
    }

    /// What we hold on the inode `path` names now, if anything.
    pub(crate) fn get(&self, path: &Path) -> Option<std::sync::Arc<T>> {
        let m = fs::symlink_metadata(path).ok()?;
        let key = (m.dev(), m.ino());
        self.entries()
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, w)| w.upgrade())
    }
}
