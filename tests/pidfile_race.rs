//! 32 processes race for one PID file, many rounds: never two holders at once, every loser is
//! told "already running" with the PID of the holder at that moment, and the holder's file is
//! byte-identical while it holds it.

#![cfg(feature = "test-helpers")]

mod support;
use support::guards::*;

use std::process::{Command, Stdio};

const RACERS: usize = 32;
const ROUNDS: usize = 8;

#[test]
fn thirty_two_racers_one_winner_per_moment() {
    let dir = tempdir();
    let path = dir.path().join("race.pid");
    let mut total_wins = 0;
    for round in 0..ROUNDS {
        let go = dir.path().join(format!("go{round}"));
        let children: Vec<_> = (0..RACERS)
            .map(|_| {
                Command::new(guard_exe())
                    .args(["race", path.to_str().unwrap(), go.to_str().unwrap(), "300"])
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(200));
        std::fs::write(&go, "").unwrap();
        let mut wins = Vec::new();
        let mut losses = Vec::new();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success());
            let line = String::from_utf8(out.stdout).unwrap();
            let f: Vec<&str> = line.split_whitespace().collect();
            match f[0] {
                "won" => {
                    assert_eq!(f[4], "intact", "the holder's file changed while held");
                    wins.push((
                        f[1].parse::<u32>().unwrap(),
                        f[2].parse::<u128>().unwrap(),
                        f[3].parse::<u128>().unwrap(),
                    ));
                }
                "lost" => losses.push((f[1].to_owned(), f[2].parse::<u128>().unwrap())),
                _ => panic!("unexpected helper output {line:?}"),
            }
        }
        assert!(!wins.is_empty(), "round {round}: nobody won");
        assert_eq!(wins.len() + losses.len(), RACERS);
        // Never two holders at once.
        wins.sort_by_key(|w| w.1);
        for pair in wins.windows(2) {
            assert!(
                pair[0].2 <= pair[1].1,
                "round {round}: overlapping holders {pair:?}"
            );
        }
        // Every loser named a holder of that round (the one holding when it tried, or one
        // that held just before/after within the same round; "starting" only if a winner
        // had not written yet, which the write-after-lock order makes possible but rare).
        for (who, tried) in &losses {
            if who == "starting" {
                continue;
            }
            let pid: u32 = who.parse().unwrap();
            let holder = wins.iter().find(|w| w.0 == pid);
            let holder = holder.unwrap_or_else(|| {
                panic!("round {round}: a loser named PID {pid}, which never held the file")
            });
            assert!(
                *tried <= holder.2,
                "round {round}: a loser named PID {pid} after that holder had released"
            );
        }
        total_wins += wins.len();
        assert!(!path.exists(), "the last holder removed its file");
    }
    assert!(total_wins >= ROUNDS);
}
