//! The command's environment: `--clear-env`, `--env-file FILE`, `-e/--env K=V`.
//!
//! The environment starts as pidward's own (or empty with `--clear-env`); the files are read
//! in order, then the `-e` pairs are applied, so that a later setting wins. The format of an
//! environment file is the library's ([`pidward::child::parse_env_file`]).

use pidward::child::Exec;
use std::ffi::OsString;
use std::path::Path;

/// A `-e/--env` value: `KEY=VALUE` with a non-empty key free of `=` and NUL.
pub fn parse_pair(text: &str) -> Result<(OsString, OsString), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
    check_key(key)?;
    if value.contains('\0') {
        return Err(format!("{text:?}: the value contains a NUL byte"));
    }
    Ok((key.into(), value.into()))
}

fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.contains('\0') || key.contains('=') {
        return Err(format!("{key:?} is not a valid variable name"));
    }
    Ok(())
}

/// Reads an environment file into `KEY`/`VALUE` pairs ([`pidward::child::parse_env_file`]).
/// Errors name the file and the line.
#[inline(never)]
pub fn read_file(path: &Path) -> Result<Vec<(OsString, OsString)>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    pidward::child::parse_env_file(&bytes).map_err(|e| match e.line {
        Some(n) => format!("{}:{n}: {}", path.display(), e.problem),
        None => format!("{}: {}", path.display(), e.problem),
    })
}

/// Applies the environment options to `cmd`.
pub fn apply(
    cmd: &mut Exec,
    clear: bool,
    files: &[Vec<(OsString, OsString)>],
    pairs: &[(OsString, OsString)],
) {
    if clear {
        cmd.env_clear();
    }
    for (k, v) in files.iter().flatten().chain(pairs) {
        cmd.env(k, v);
    }
}
