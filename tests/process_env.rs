//! Environment (empty, inherited, exact, changes) and argv bytes.
#![cfg(feature = "process")]

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;

use pidward::process::Command;
use proptest::prelude::*;

/// Runs `cmd`, which prints NUL-separated records, and returns the records.
async fn records(cmd: &mut Command) -> Vec<Vec<u8>> {
    let output = cmd.output().await.unwrap();
    assert!(output.status.success());
    output
        .stdout
        .split(|&b| b == 0)
        .filter(|r| !r.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// The child's environment as printed by `env -0`.
async fn child_env(cmd: &mut Command) -> BTreeMap<OsString, OsString> {
    records(cmd.arg("-0"))
        .await
        .into_iter()
        .map(|entry| {
            let eq = entry.iter().position(|&b| b == b'=').unwrap();
            (
                OsString::from_vec(entry[..eq].to_vec()),
                OsString::from_vec(entry[eq + 1..].to_vec()),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_empty_environment() {
    let env = child_env(Command::new("env").env_clear()).await;
    assert!(env.is_empty(), "{env:?}");
}

#[tokio::test]
async fn the_inherited_environment_with_changes() {
    let parent: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    assert!(parent.contains_key(OsStr::new("PATH")));
    assert_eq!(child_env(&mut Command::new("env")).await, parent);

    let mut expected = parent.clone();
    expected.insert("PIDWARD_SPACES".into(), "a b\tc".into());
    expected.insert(
        "PIDWARD_BYTES".into(),
        OsString::from_vec(b"\xff\xfe=x".to_vec()),
    );
    expected.remove(OsStr::new("PATH"));
    let changed = child_env(
        Command::new("env")
            .env("PIDWARD_SPACES", "a b\tc")
            .env("PIDWARD_BYTES", OsStr::from_bytes(b"\xff\xfe=x"))
            .env_remove("PATH"),
    )
    .await;
    assert_eq!(changed, expected);
}

#[tokio::test]
async fn exactly_this_environment() {
    let env = child_env(
        Command::new("env")
            .env("DROPPED_BY_CLEAR", "1")
            .env_clear()
            .envs([("A", "1"), ("B", "two words")]),
    )
    .await;
    let expected: BTreeMap<OsString, OsString> =
        [("A".into(), "1".into()), ("B".into(), "two words".into())].into();
    assert_eq!(env, expected);
}

#[tokio::test]
async fn the_childs_path_is_used_to_find_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("pidward-hello");
    std::fs::write(&script, "#!/bin/sh\necho found via child PATH\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("/nonexistent:{}", dir.path().display());
    let output = Command::new("pidward-hello")
        .env("PATH", &path)
        .output()
        .await
        .unwrap();
    assert_eq!(output.stdout, b"found via child PATH\n");
    assert!(output.status.success());
}

#[tokio::test]
async fn argv_bytes_arrive_unchanged() {
    let args: Vec<OsString> = vec![
        "plain".into(),
        "".into(),
        "two words".into(),
        "\"double\" and 'single' quotes".into(),
        "tab\there".into(),
        "back\\slash\\\\".into(),
        "new\nline".into(),
        "$HOME `id` $(id) *".into(),
        "ünïcødé".into(),
        OsString::from_vec(b"\xff\xfe non-utf8 \x80".to_vec()),
    ];
    let got = records(
        Command::new("sh")
            .args(["-c", "printf '%s\\0' \"$@\"", "sh"])
            .args(&args),
    )
    .await;
    // `records` drops empty records, so compare without the empty argument.
    let want: Vec<Vec<u8>> = args
        .iter()
        .map(|a| a.as_bytes().to_vec())
        .filter(|a| !a.is_empty())
        .collect();
    assert_eq!(got, want);

    // The empty argument is really there: count the arguments.
    let output = Command::new("sh")
        .args(["-c", "echo $#", "sh"])
        .args(&args)
        .output()
        .await
        .unwrap();
    assert_eq!(output.stdout, b"10\n");
}

#[tokio::test]
async fn nul_bytes_are_rejected_before_anything_starts() {
    for cmd in [
        Command::new("echo").arg("a\0b"),
        Command::new("echo").env("K", "v\0"),
        Command::new("echo").env("K=V", "v"),
        &mut Command::new("ec\0ho"),
        &mut Command::new(""),
    ] {
        let err = cmd.spawn().unwrap_err();
        assert!(
            matches!(err, pidward::process::Error::InvalidCommand(_)),
            "{err:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn any_non_nul_bytes_round_trip_through_argv(
        args in proptest::collection::vec(proptest::collection::vec(1u8..=255, 1..40), 0..8)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let got = runtime.block_on(records(
            Command::new("sh")
                .args(["-c", "printf '%s\\0' \"$@\"", "sh"])
                .args(args.iter().map(|a| OsStr::from_bytes(a))),
        ));
        prop_assert_eq!(got, args);
    }
}
