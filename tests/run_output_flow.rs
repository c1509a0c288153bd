//! The bytes relay mode moves (`pidward run --output-max SIZE[:KEEP] -o FILE`), checked in
//! the files they end in: a fast writer loses no line and splits none across a rotation,
//! KEEP is honoured and every file stays within its bounds; a long line, however it
//! arrives, is ended at `SIZE + 64 KiB`; a file already past SIZE is rotated before the first
//! new line (and left alone by a start that fails); and a binary stream comes out byte for
//! byte as it went in.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// How far past SIZE a line may run before pidward ends it (`pidward::log::LINE_MAX`).
const LINE_MAX: u64 = 64 * 1024;

/// `pidward run -l none ARGS`, as a user runs it, with nothing on its standard input.
fn run(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("pidward")
        .unwrap()
        .arg("run")
        .args(["-l", "none"])
        .args(args)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .write_stdin("")
        .output()
        .unwrap()
}

/// `FILE.K` (`FILE` for 0).
fn numbered(path: &Path, k: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    if k > 0 {
        s.push(format!(".{k}"));
    }
    s.into()
}

/// The files of a rotated output that exist, oldest first (`FILE.KEEP` … `FILE.1`, `FILE`),
/// after checking that none past `FILE.KEEP` does.
fn files(out: &Path, keep: u32) -> Vec<PathBuf> {
    assert!(
        !numbered(out, keep + 1).exists(),
        "more than {keep} old files"
    );
    (0..=keep)
        .rev()
        .map(|k| numbered(out, k))
        .filter(|p| p.exists())
        .collect()
}

/// The SHA-256 of `bytes` (sha256sum(1)), for comparing large streams.
fn sha256(bytes: &[u8]) -> String {
    let o = Command::new("sha256sum")
        .write_stdin(bytes)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    String::from_utf8(o.stdout).unwrap()[..64].to_owned()
}

/// Checks a file rotated at `max`: it ends a line, reaches `max`, its last line began before
/// `max` (it was rotated at the first line end at or past it), and it holds no more than
/// `max + LINE_MAX` bytes and pidward's newline.
fn assert_rotated_at(path: &Path, bytes: &[u8], max: u64) {
    let len = bytes.len() as u64;
    assert!(
        bytes.ends_with(b"\n"),
        "{} ends inside a line",
        path.display()
    );
    assert!(len >= max, "{}: {len} bytes, rotated early", path.display());
    assert!(len <= max + LINE_MAX + 1, "{}: {len} bytes", path.display());
    let last = bytes[..bytes.len() - 1]
        .rsplit(|&b| b == b'\n')
        .next()
        .unwrap()
        .len() as u64;
    assert!(len - last - 1 < max, "{}: rotated late", path.display());
}

#[test]
fn a_fast_writer_loses_no_line_splits_none_and_keeps_keep_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.log");
    let (n, max, keep) = (60_000u32, 2 << 20, 3);
    // Lines `N xxx…` of 0 to 996 x's, from one awk writing as fast as it can (about 30 MB).
    let writer = format!(
        "awk 'BEGIN {{ p = sprintf(\"%1000s\", \"\"); gsub(/ /, \"x\", p); \
         for (i = 1; i <= {n}; i++) printf \"%d %s\\n\", i, substr(p, 1, (i * 37) % 997) }}'"
    );
    let o = run(&[
        "--output-max",
        "2M:3",
        "-o",
        out.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &writer,
    ]);
    assert!(o.status.success(), "{o:?}");
    let paths = files(&out, keep);
    assert_eq!(paths.len(), keep as usize + 1, "{paths:?}");
    let mut numbers = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap();
        if i + 1 < paths.len() {
            assert_rotated_at(path, &bytes, max);
        } else {
            assert!(bytes.len() as u64 <= max + LINE_MAX + 1);
        }
        for line in String::from_utf8(bytes).unwrap().lines() {
            let (num, xs) = line.split_once(' ').unwrap_or((line, "?"));
            let num: u32 = num.parse().unwrap_or_else(|_| panic!("split: {line:?}"));
            assert!(
                xs.len() as u32 == (num * 37) % 997 && xs.bytes().all(|b| b == b'x'),
                "a split line: {line:?}"
            );
            numbers.push(num);
        }
    }
    // What is kept is the end of the output, every line of it, in order.
    let first = numbers[0];
    assert!(first > 1, "nothing was rotated away");
    assert_eq!(numbers, (first..=n).collect::<Vec<_>>());
}

/// The long lines of `--output-max 1K:9` over `files`: the pieces between newlines, and
/// every file within `SIZE + LINE_MAX` and one newline.
fn pieces(out: &Path) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for path in files(out, 9) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bytes.len() as u64 <= 1024 + LINE_MAX + 1,
            "{}: {} bytes, past SIZE + 64 KiB",
            path.display(),
            bytes.len()
        );
        all.extend(bytes);
    }
    all.split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn a_long_line_written_at_once_is_ended_at_size_plus_64k() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.log");
    // 300 KiB without a newline, in one write(2) (the pipe takes it whole), then a newline
    // and a short line.
    let line = dir.path().join("line");
    std::fs::write(&line, vec![b'y'; 300 << 10]).unwrap();
    let script = format!(
        "dd if={} bs=307200 count=1 status=none; echo; echo after",
        line.display()
    );
    let o = run(&[
        "--output-max",
        "1K:9",
        "-o",
        out.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert!(o.status.success(), "{o:?}");
    let pieces = pieces(&out);
    // 1 KiB + 64 KiB per file, each ended by pidward; the rest of the line, then "after".
    let hard = (1024 + LINE_MAX) as usize;
    let rest = (300 << 10) % hard;
    let mut want: Vec<Vec<u8>> = vec![[vec![b'y'; hard], vec![b'\n']].concat(); (300 << 10) / hard];
    want.push([vec![b'y'; rest], vec![b'\n']].concat());
    want.push(b"after\n".to_vec());
    assert_eq!(pieces.len(), want.len(), "{:?}", lens(&pieces));
    assert!(pieces == want, "{:?}", lens(&pieces));
    assert_eq!(std::fs::read(&out).unwrap(), b"after\n");
}

/// The lengths of `pieces`, for messages.
fn lens(pieces: &[Vec<u8>]) -> Vec<usize> {
    pieces.iter().map(Vec::len).collect()
}

#[test]
fn a_long_line_in_a_nearly_full_file_is_ended_at_size_plus_64k_with_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.log");
    // A line that leaves the file a byte short of 1 KiB (with its timestamp of 25 bytes);
    // once that is written, 100 KiB without a newline in one write(2).
    let line = dir.path().join("line");
    std::fs::write(&line, vec![b'y'; 100 << 10]).unwrap();
    let script = format!(
        "printf '%0997d\\n' 0; sleep 0.3; dd if={} bs=102400 count=1 status=none; echo",
        line.display()
    );
    let o = run(&[
        "--output-max",
        "1K:9",
        "--output-timestamps",
        "-o",
        out.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert!(o.status.success(), "{o:?}");
    let pieces = pieces(&out);
    assert_eq!(pieces.len(), 3, "{:?}", lens(&pieces));
    assert_eq!(pieces[0].len(), 25 + 998, "{:?}", lens(&pieces));
    // The long line runs to the hard maximum of the first file, no further.
    let hard = (1024 + LINE_MAX) as usize;
    assert_eq!(pieces[1].len(), hard - 1023 + 1, "{:?}", lens(&pieces));
    // The rest of it starts the next file, with a timestamp of its own.
    assert_eq!(pieces[2].len(), 25 + (100 << 10) - (hard - 1023 - 25) + 1);
    let ys: usize = pieces[1..]
        .iter()
        .map(|p| p.iter().filter(|&&b| b == b'y').count())
        .sum();
    assert_eq!(ys, 100 << 10, "a byte of the line lost");
}

#[test]
fn a_file_already_past_size_is_rotated_before_the_first_new_line() {
    let dir = tempfile::tempdir().unwrap();
    // Ending a line, with the first new line timestamped; and ending inside one.
    for (old, stamps) in [("old line\n".repeat(200), true), ("x".repeat(2000), false)] {
        let out = dir.path().join(format!("out-{stamps}.log"));
        std::fs::write(&out, &old).unwrap();
        let mut args = vec!["--output-max", "1K:2", "-o", out.to_str().unwrap()];
        if stamps {
            args.push("--output-timestamps");
        }
        args.extend(["--", "sh", "-c", "echo new; echo second"]);
        let o = run(&args);
        assert!(o.status.success(), "{o:?}");
        assert_eq!(std::fs::read_to_string(numbered(&out, 1)).unwrap(), old);
        let text = std::fs::read_to_string(&out).unwrap();
        let bodies: Vec<&str> = text
            .lines()
            .map(|l| if stamps { &l[25..] } else { l })
            .collect();
        assert_eq!(bodies, ["new", "second"], "{text:?}");
        assert!(!numbered(&out, 2).exists());
    }
}

#[test]
fn a_file_truncated_while_relayed_is_written_from_its_new_end_and_rotated_on_its_new_size() {
    // logrotate's `copytruncate`: the file is emptied under the relay between two bursts of
    // output. The second burst must start the file (no hole of NUL bytes where the first
    // was), and the file must not be rotated: it holds 40,000 bytes, not the 80,000 the
    // relay wrote in all, and the rotation point is 64 KiB.
    let dir = tempfile::tempdir().unwrap();
    let (out, go) = (dir.path().join("out"), dir.path().join("go"));
    let script = format!(
        "yes aaaaaaaaa | head -c 40000; while [ ! -e {go} ]; do sleep 0.02; done; \
         yes bbbbbbbbb | head -c 40000",
        go = go.display()
    );
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pidward"))
        .args(["run", "-l", "none", "--output-max", "64K:2", "-o"])
        .arg(&out)
        .args(["--", "sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::metadata(&out).map_or(0, |m| m.len()) < 40_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first burst never arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(&out)
        .unwrap()
        .set_len(0)
        .unwrap();
    std::fs::write(&go, "").unwrap();
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.len(), 40_000, "{:?}", &text[..text.len().min(64)]);
    assert_eq!(text, "bbbbbbbbb\n".repeat(4000));
    assert!(
        !numbered(&out, 1).exists(),
        "rotated on the size before truncation"
    );
}

#[test]
fn a_start_that_fails_leaves_a_file_past_size_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.log");
    std::fs::write(&out, "old line\n".repeat(200)).unwrap();
    let bad = dir.path().join("missing").join("err.log");
    let o = run(&[
        "--output-max",
        "1K:2",
        "--stdout",
        out.to_str().unwrap(),
        "--stderr",
        bad.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo new",
    ]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains(bad.to_str().unwrap()));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "old line\n".repeat(200)
    );
    assert!(!numbered(&out, 1).exists());
}

#[test]
fn a_binary_stream_comes_out_byte_for_byte_rotated_or_not() {
    let dir = tempfile::tempdir().unwrap();
    // 24 MiB of random bytes (NULs and newlines among them; no line anywhere near 64 KiB).
    let input = dir.path().join("input");
    let mut bytes = vec![0u8; 24 << 20];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .unwrap();
    std::fs::write(&input, &bytes).unwrap();
    let want = sha256(&bytes);
    let cat = format!("cat {}", input.display());
    for (max, keep) in [("1G", 1), ("2M", 20)] {
        let out = dir.path().join(format!("out-{max}"));
        let o = run(&[
            "--output-max",
            &format!("{max}:{keep}"),
            "-o",
            out.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            &cat,
        ]);
        assert!(o.status.success(), "{o:?}");
        let paths = files(&out, keep);
        let mut all = Vec::with_capacity(bytes.len());
        for (i, path) in paths.iter().enumerate() {
            let part = std::fs::read(path).unwrap();
            if i + 1 < paths.len() {
                assert_rotated_at(path, &part, 2 << 20);
            }
            all.extend(part);
        }
        if max == "2M" {
            assert!(paths.len() >= 10, "{paths:?}");
        }
        assert_eq!(all.len(), bytes.len(), "{max}");
        assert_eq!(sha256(&all), want, "{max}: the bytes differ");
    }
}
