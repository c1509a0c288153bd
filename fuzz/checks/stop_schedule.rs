//! Stop schedules ([`pidward::stop::Schedule::parse`], `stop --retry`): a schedule accepted has
//! a signal, at most one `forever`, and a wait if it repeats; its `Display` parses back to the
//! same schedule (parse ∘ format is the identity) and shows the same text again.

use pidward::Signal;
use pidward::stop::{Schedule, Step};

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for first in [Signal::TERM, Signal::HUP] {
        let Ok(schedule) = Schedule::parse(text, first) else {
            continue;
        };
        let steps = schedule.steps();
        assert!(
            steps.iter().any(|s| matches!(s, Step::Signal(_))),
            "{text:?}: no signal"
        );
        assert!(steps.iter().filter(|s| **s == Step::Forever).count() <= 1);
        if steps.contains(&Step::Forever) {
            // Once it repeats, the run order waits at least once in every pass.
            let pass: Vec<Step> = schedule
                .run_order()
                .skip(steps.len())
                .take(steps.len() + 1)
                .collect();
            assert!(
                pass.iter().any(|s| matches!(s, Step::Wait(_))),
                "{text:?}: repeats {pass:?} without waiting"
            );
        }
        let shown = schedule.to_string();
        let again = Schedule::parse(&shown, first)
            .unwrap_or_else(|e| panic!("{text:?} shows as {shown:?}, which does not parse: {e}"));
        assert_eq!(again, schedule, "{text:?} shows as {shown:?}");
        assert_eq!(again.to_string(), shown);
        // The run order is finite or endless, never stuck: take a bounded prefix.
        assert!(schedule.run_order().take(64).count() >= steps.len().min(64).min(1));
    }
}
