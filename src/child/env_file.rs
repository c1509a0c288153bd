//! Environment files (`pidward run --env-file FILE`): one `KEY=VALUE` per line.
//!
//! Blank lines and lines starting with `#` are skipped, an optional `export ` prefix is
//! allowed, white space around the key and the value is dropped, and a value wrapped in
//! matching single or double quotes loses them. Nothing else is interpreted: no escapes, no
//! expansion, no line continuations. A key is non-empty and free of `=` and NUL; a value is
//! free of NUL (no C environment can hold one, so it is refused here, naming the line, rather
//! than when the command is prepared).

use std::ffi::OsString;

/// Why an environment file was refused: the line (1-based) when one line is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{problem}", line.map(|n| format!("{n}: ")).unwrap_or_default())]
pub struct EnvFileError {
    /// The line at fault, or `None` when the whole file is (not UTF-8).
    pub line: Option<usize>,
    /// What is wrong, quoting the offending text.
    pub problem: String,
}

/// Parses the content of an environment file into `KEY`/`VALUE` pairs, in file order.
///
/// ```
/// use pidward::child::parse_env_file;
///
/// let pairs = parse_env_file(b"# db\nexport HOST = db.local\nNAME='my app'\n\n")?;
/// assert_eq!(pairs, [("HOST".into(), "db.local".into()), ("NAME".into(), "my app".into())]);
/// let err = parse_env_file(b"A=1\njust words\n").unwrap_err();
/// assert_eq!(err.to_string(), "2: \"just words\" is not KEY=VALUE");
/// # Ok::<(), pidward::child::EnvFileError>(())
/// ```
pub fn parse_env_file(content: &[u8]) -> Result<Vec<(OsString, OsString)>, EnvFileError> {
    let text = std::str::from_utf8(content).map_err(|_| EnvFileError {
        line: None,
        problem: "not valid UTF-8 text".to_owned(),
    })?;
    let mut pairs = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let at = |problem: String| EnvFileError {
            line: Some(n + 1),
            problem,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| at(format!("{raw:?} is not KEY=VALUE")))?;
        let key = key.trim();
        if key.is_empty() || key.contains('\0') {
            return Err(at(format!("{key:?} is not a valid variable name")));
        }
        let value = value.trim();
        let value = [b'"', b'\'']
            .iter()
            .find_map(|&q| {
                let q = q as char;
                (value.len() >= 2 && value.starts_with(q) && value.ends_with(q))
                    .then(|| &value[1..value.len() - 1])
            })
            .unwrap_or(value);
        if value.contains('\0') {
            return Err(at(format!("the value of {key} contains a NUL byte")));
        }
        pairs.push((OsString::from(key), OsString::from(value)));
    }
    Ok(pairs)
}
