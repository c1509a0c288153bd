//! `--env-file` content ([`pidward::child::parse_env_file`]): every pair accepted has a
//! non-empty, trimmed key free of `=` and NUL and a value free of NUL and newlines (so that
//! the command can be prepared); the pairs written back as `export KEY="VALUE"` lines parse to
//! the same pairs; an error names a line of the file.

use std::ffi::OsString;

use pidward::child::parse_env_file;

pub fn check(data: &[u8]) {
    match parse_env_file(data) {
        Ok(pairs) => {
            let mut file = Vec::new();
            for (key, value) in &pairs {
                let (k, v) = (key.to_str().unwrap(), value.to_str().unwrap());
                assert!(!k.is_empty() && !k.contains(['=', '\0']), "key {k:?}");
                assert_eq!(k, k.trim(), "untrimmed key");
                assert!(!v.contains(['\0', '\n']), "{k}: value {v:?}");
                file.extend_from_slice(format!("export {k}=\"{v}\"\n").as_bytes());
            }
            let again: Vec<(OsString, OsString)> = parse_env_file(&file).unwrap_or_else(|e| {
                panic!(
                    "{:?} does not parse back: {e}",
                    String::from_utf8_lossy(&file)
                )
            });
            assert_eq!(
                again,
                pairs,
                "written back as {:?}",
                String::from_utf8_lossy(&file)
            );
        }
        Err(e) => match e.line {
            None => assert!(std::str::from_utf8(data).is_err(), "{e}"),
            Some(n) => {
                let lines = std::str::from_utf8(data).unwrap().lines().count();
                assert!((1..=lines).contains(&n), "line {n} of {lines}: {e}");
            }
        },
    }
}
