//! Creating the missing parent directories of a PID file, naming the one that fails.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use super::{Error, Step};

/// Create the missing parents of `path`, naming the one that fails.
pub(super) fn create_parents(path: &Path) -> Result<(), Error> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    if parent.is_dir() {
        return Ok(());
    }
    // Walk down from the first existing ancestor so the error names the exact component.
    let mut missing = Vec::new();
    let mut cur = parent;
    loop {
        match fs::symlink_metadata(cur) {
            Ok(m) if m.is_dir() => break,
            Ok(m) if m.file_type().is_symlink() && cur.is_dir() => break,
            // A file, socket...: mkdir below it would fail with this same error.
            Ok(_) => {
                let source = io::Error::from_raw_os_error(libc::ENOTDIR);
                return Err(Error::io(cur, Step::CreateDirectoriesUnder, source));
            }
            Err(_) => missing.push(cur),
        }
        match cur.parent() {
            Some(p) if !p.as_os_str().is_empty() => cur = p,
            _ => break,
        }
    }
    for dir in missing.into_iter().rev() {
        match fs::DirBuilder::new().mode(0o755).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(Error::io(dir, Step::CreateDirectory, e)),
        }
    }
    Ok(())
}
