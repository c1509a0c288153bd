//! The command's environment: `--clear-env`, `--env-file FILE`, `-e/--env K=V`.
//!
//! The environment starts as pidward's own (or empty with `--clear-env`); the files are read
//! in order, then the `-e` pairs are applied, so that a later setting wins. An environment
//! file holds one `KEY=VALUE` per line; blank lines and lines starting with `#` are skipped,
//! an optional `export ` prefix is allowed, and a value wrapped in matching single or double
//! quotes loses them (nothing else is interpreted: no escapes, no expansion).

use pidward::child::Exec;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
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

/// Reads an environment file into `KEY`/`VALUE` pairs. Errors name the file and the line.
pub fn read_file(path: &Path) -> Result<Vec<(OsString, OsString)>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("{}: not valid UTF-8 text", path.display()))?;
    let mut pairs = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("{}:{}: {raw:?} is not KEY=VALUE", path.display(), n + 1))?;
        let key = key.trim();
        check_key(key).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        let value = value.trim();
        let value = [b'"', b'\'']
            .iter()
            .find_map(|&q| {
                let q = q as char;
                (value.len() >= 2 && value.starts_with(q) && value.ends_with(q))
                    .then(|| &value[1..value.len() - 1])
            })
            .unwrap_or(value);
        pairs.push((
            OsString::from(key),
            OsString::from_vec(value.as_bytes().to_vec()),
        ));
    }
    Ok(pairs)
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
