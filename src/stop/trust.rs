//! Whether a PID file's PID may be believed: who could have written the file.
//!
//! A PID file is an instruction to signal a process, so `stop` believes it only if nobody but
//! the service, root or the caller could have put the PID there. The rules match or beat
//! dpkg's start-stop-daemon (matching on a PID file only) and systemd's `PIDFile=`:
//!
//! | the file is refused when...                                       | start-stop-daemon | systemd | pidward |
//! |---|---|---|---|
//! | world-writable                                                   | refused | (root-owned only) | refused |
//! | owned by someone other than root or the caller                    | refused | refused unless in the service's cgroup | refused, **unless** the owner is the owner of the process it names (postgres writes its own `postmaster.pid`) |
//! | group-writable by a group other than root's and the caller's      | refused | - | refused |
//! | in a directory others may write to without the sticky bit         | - | refused (`CHASE_SAFE`, unsafe transitions) | refused |
//! | in a directory owned by a third user (not root, caller, process owner) | - | refused (`CHASE_SAFE`) | refused |
//! | naming PID 1 or the manager itself                                | - | refused | refused, and the caller's parent too |
//!
//! Only the file and its directory are examined: those are the two a planted file needs.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::{Error, Untrusted};

/// Check the file at `path` (its metadata `meta`), which names `pid`.
pub(crate) fn check(path: &Path, meta: &std::fs::Metadata, pid: u32) -> Result<(), Error> {
    let refuse = |why| {
        Err(Error::Untrusted {
            path: path.to_owned(),
            why,
        })
    };
    let me = rustix::process::geteuid().as_raw();
    let my_group = rustix::process::getegid().as_raw();
    // The owner of the process: /proc/PID belongs to its effective uid (root when it is not
    // dumpable, which only narrows what is accepted).
    let process_uid = rustix::fs::stat(format!("/proc/{pid}").as_str())
        .map(|st| st.st_uid)
        .ok();
    let trusted_user = |uid: u32| uid == 0 || uid == me || Some(uid) == process_uid;
    let mode = meta.permissions().mode();
    if mode & 0o002 != 0 {
        return refuse(Untrusted::WorldWritable);
    }
    if !trusted_user(meta.uid()) {
        return refuse(Untrusted::OtherOwner {
            uid: meta.uid(),
            process_uid,
        });
    }
    if mode & 0o020 != 0 && meta.gid() != 0 && meta.gid() != my_group {
        return refuse(Untrusted::GroupWritable { gid: meta.gid() });
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // A directory that cannot be examined is not evidence against the file: the file's own
    // checks stand (and the directory was traversable, since the file was read).
    if let Ok(dmeta) = std::fs::metadata(dir) {
        let dmode = dmeta.permissions().mode();
        if dmode & 0o002 != 0 && dmode & 0o1000 == 0 {
            return refuse(Untrusted::DirectoryWritable);
        }
        if !trusted_user(dmeta.uid()) {
            return refuse(Untrusted::DirectoryOwner { uid: dmeta.uid() });
        }
    }
    Ok(())
}
