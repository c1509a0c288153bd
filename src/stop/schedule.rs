//! Stop schedules: start-stop-daemon's `--retry` syntax (`30`, `TERM/30/KILL/5`, `forever`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::{Error, ScheduleProblem};
use crate::Signal;

/// One step of a [`Schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send this signal.
    Signal(Signal),
    /// Wait this long for the process to exit.
    Wait(Duration),
    /// Repeat what follows until the process is gone.
    Forever,
}

/// A stop schedule such as `TERM/30/KILL/5`.
///
/// ```
/// use pidward::stop::{Schedule, Step};
/// use pidward::Signal;
/// use std::time::Duration;
///
/// let s = Schedule::parse("30", Signal::TERM)?;
/// assert_eq!(s.to_string(), "TERM/30/KILL/5");
/// let s = Schedule::parse("HUP/0.5/-9/2/forever", Signal::TERM)?;
/// assert_eq!(s.steps()[1], Step::Wait(Duration::from_millis(500)));
/// assert_eq!(s.steps()[2], Step::Signal(Signal::KILL));
/// assert!(Schedule::parse("TERM/abc", Signal::TERM).is_err());
/// # Ok::<(), pidward::stop::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule(Vec<Step>);

impl Schedule {
    /// Parse start-stop-daemon `--retry` syntax; `signal` is the one a bare timeout sends first.
    ///
    /// Fails with [`Error::Schedule`].
    pub fn parse(text: &str, signal: Signal) -> Result<Schedule, Error> {
        let err = |problem| Error::Schedule {
            text: text.to_owned(),
            problem,
        };
        if let Some(d) = parse_secs(text) {
            return Ok(Schedule::timeout(signal, d));
        }
        let mut steps = Vec::new();
        for item in text.split('/') {
            let step = if item == "forever" {
                if steps.contains(&Step::Forever) {
                    return Err(err(ScheduleProblem::ForeverTwice));
                }
                Step::Forever
            } else if let Some(d) = parse_secs(item) {
                Step::Wait(d)
            } else {
                let name = item.strip_prefix('-').unwrap_or(item);
                Step::Signal(name.parse().map_err(|source| {
                    err(ScheduleProblem::BadItem {
                        item: item.to_owned(),
                        source,
                    })
                })?)
            };
            steps.push(step);
        }
        if !steps.iter().any(|s| matches!(s, Step::Signal(_))) {
            return Err(err(ScheduleProblem::NoSignal));
        }
        // What `forever` repeats must wait, or the stop would spin sending signals.
        let (_, repeat) = split_forever(&steps);
        if steps.contains(&Step::Forever) && !repeat.iter().any(|s| matches!(s, Step::Wait(_))) {
            return Err(err(ScheduleProblem::ForeverWithoutWait));
        }
        Ok(Schedule(steps))
    }

    /// What a bare timeout means: send `signal`, wait `wait`, then `KILL` and wait 5 seconds
    /// (`SIGNAL/WAIT/KILL/5`), as start-stop-daemon's `--retry WAIT` does.
    ///
    /// ```
    /// use pidward::stop::Schedule;
    /// use pidward::Signal;
    /// use std::time::Duration;
    ///
    /// let s = Schedule::timeout(Signal::TERM, Duration::from_secs(5));
    /// assert_eq!(s, Schedule::parse("TERM/5/KILL/5", Signal::TERM)?);
    /// assert_eq!(s, Schedule::parse("5", Signal::TERM)?);
    /// # Ok::<(), pidward::stop::Error>(())
    /// ```
    pub fn timeout(signal: Signal, wait: Duration) -> Schedule {
        Schedule(vec![
            Step::Signal(signal),
            Step::Wait(wait),
            Step::Signal(Signal::KILL),
            Step::Wait(Duration::from_secs(5)),
        ])
    }

    /// Send `signal` once and do not wait.
    pub fn once(signal: Signal) -> Schedule {
        Schedule(vec![Step::Signal(signal)])
    }

    /// The steps.
    pub fn steps(&self) -> &[Step] {
        &self.0
    }

    /// Whether the schedule waits at all (if not, success means "signal delivered").
    pub fn waits(&self) -> bool {
        self.0.iter().any(|s| matches!(s, Step::Wait(_)))
    }

    /// The steps in the order they run, `forever` unrolled lazily (the iterator is endless
    /// then: stop consuming it once the process is gone).
    pub fn run_order(&self) -> impl Iterator<Item = Step> + '_ {
        let (head, repeat) = split_forever(&self.0);
        head.iter().copied().chain(
            std::iter::repeat(repeat)
                .take_while(|r| !r.is_empty())
                .flatten()
                .copied(),
        )
    }
}

impl Default for Schedule {
    /// `TERM/30/KILL/5`.
    fn default() -> Schedule {
        Schedule::timeout(Signal::TERM, Duration::from_secs(30))
    }
}

impl FromStr for Schedule {
    type Err = Error;

    /// Parse with `TERM` as the signal of a bare timeout.
    fn from_str(s: &str) -> Result<Schedule, Error> {
        Schedule::parse(s, Signal::TERM)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            match step {
                // A signal without a name (glibc's reserved 32 and 33) is written as
                // `-32`: a bare number would read back as a wait.
                Step::Signal(s) if s.name().starts_with(|c: char| c.is_ascii_digit()) => {
                    write!(f, "-{s}")?
                }
                Step::Signal(s) => write!(f, "{s}")?,
                Step::Wait(d) => write!(f, "{}", d.as_secs_f64())?,
                Step::Forever => f.write_str("forever")?,
            }
        }
        Ok(())
    }
}

/// The steps run once and the steps `forever` repeats (none without `forever`).
fn split_forever(steps: &[Step]) -> (&[Step], &[Step]) {
    match steps.iter().position(|s| *s == Step::Forever) {
        None => (steps, &[]),
        Some(i) if i + 1 == steps.len() => {
            // Trailing `forever`: repeat the last signal and the waits after it.
            let last_sig = steps[..i]
                .iter()
                .rposition(|s| matches!(s, Step::Signal(_)))
                .unwrap_or(0);
            (&steps[..i], &steps[last_sig..i])
        }
        Some(i) => (&steps[..i], &steps[i + 1..]),
    }
}

/// A wait of the schedule: anything else is a signal (`-5` included, as `kill -5`).
fn parse_secs(text: &str) -> Option<Duration> {
    crate::time::parse_seconds(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let s = Schedule::parse("5", Signal::HUP).unwrap();
        assert_eq!(s.to_string(), "HUP/5/KILL/5");
        let s = Schedule::parse("TERM/1/KILL/2", Signal::TERM).unwrap();
        let order: Vec<Step> = s.run_order().collect();
        assert_eq!(order.len(), 4);
        let s = Schedule::parse("TERM/1/forever", Signal::TERM).unwrap();
        let order: Vec<Step> = s.run_order().take(6).collect();
        assert_eq!(
            order,
            [
                Step::Signal(Signal::TERM),
                Step::Wait(Duration::from_secs(1)),
                Step::Signal(Signal::TERM),
                Step::Wait(Duration::from_secs(1)),
                Step::Signal(Signal::TERM),
                Step::Wait(Duration::from_secs(1)),
            ]
        );
        let s = Schedule::parse("TERM/1/forever/KILL/2", Signal::TERM).unwrap();
        let order: Vec<Step> = s.run_order().take(5).collect();
        assert_eq!(order[2], Step::Signal(Signal::KILL));
        assert_eq!(order[4], Step::Signal(Signal::KILL));
        for bad in [
            "",
            "TERM//5",
            "5/forever/forever",
            "1/2",
            "TERM/x",
            "forever",
            "-1.5.5",
            "TERM/forever",
        ] {
            assert!(Schedule::parse(bad, Signal::TERM).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_signal_without_a_name_shows_as_a_signal() {
        // Found by fuzz/fuzz_targets/stop_schedule.rs: `-32/1` was shown as `32/1`, which
        // reads back as a bare timeout (and then as a schedule with no signal).
        let s = Schedule::parse("-32/1", Signal::TERM).unwrap();
        assert_eq!(s.to_string(), "-32/1");
        assert_eq!(Schedule::parse(&s.to_string(), Signal::TERM).unwrap(), s);
    }

    #[test]
    fn what_forever_repeats_must_wait() {
        // Found by fuzz/fuzz_targets/stop_schedule.rs: `forever/TERM` repeated TERM with no
        // wait between, and so did `TERM/5/KILL/forever` (it repeats `KILL`).
        for spin in ["forever/TERM", "TERM/5/forever/KILL", "TERM/5/KILL/forever"] {
            let e = Schedule::parse(spin, Signal::TERM).unwrap_err();
            assert!(e.to_string().contains("spin"), "{spin}: {e}");
        }
        for fine in ["TERM/5/forever", "TERM/forever/KILL/1", "forever/TERM/1"] {
            assert!(Schedule::parse(fine, Signal::TERM).is_ok(), "{fine}");
        }
    }
}
