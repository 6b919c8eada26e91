//! What a job remembers of its own past, for a backfill to tell a slot it should call from
//! one it should not: when the job's timing last changed (slots before it followed another
//! schedule), and when it was paused (its slots then were never due, and left no execution).
//! Written only by a person's change (`JobChanges::apply`, `NewJob::build`), never by a tick.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The most ended pauses a job keeps: beyond it the two oldest are merged into one span, so
/// the slots between them read as paused (a backfill calls them only with
/// `--include-paused`: it never calls a slot it cannot tell from a pause's). Each kept pause
/// adds about 60 bytes to the job's item.
pub const MAX_PAUSES: usize = 8;

/// A pause of the job that has ended: its slots from `from` to `to` (both included) were
/// never due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseSpan {
    /// When it was paused.
    pub from: DateTime<Utc>,
    /// When it was resumed.
    pub to: DateTime<Utc>,
}

/// Keeps an ended pause: at most [`MAX_PAUSES`], the two oldest merged beyond that.
pub fn push_pause(pauses: &mut Vec<PauseSpan>, span: PauseSpan) {
    pauses.push(span);
    while pauses.len() > MAX_PAUSES {
        let first = pauses.remove(0);
        pauses[0].from = first.from;
    }
}

/// A job's past, as far as it matters to a backfill.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JobPast {
    /// When the schedule, zone, start or end last changed: slots before it followed the
    /// timing of the time, not the current one. Absent for a job never re-timed (or written
    /// before this was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing_since: Option<DateTime<Utc>>,
    /// When the current pause began (only while paused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_since: Option<DateTime<Utc>>,
    /// Ended pauses, oldest first, at most [`MAX_PAUSES`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pauses: Vec<PauseSpan>,
}

impl JobPast {
    /// Nothing remembered (the item then carries no attribute for it).
    pub fn is_empty(&self) -> bool {
        self.timing_since.is_none() && self.paused_since.is_none() && self.pauses.is_empty()
    }

    /// Paused at `at` (a pause of a paused job keeps its start).
    pub fn pause(&mut self, at: DateTime<Utc>) {
        self.paused_since.get_or_insert(at);
    }

    /// Resumed at `at`: the pause becomes a span. `since` is when it began for a job paused
    /// before its pauses were kept (its last change).
    pub fn resume(&mut self, at: DateTime<Utc>, since: DateTime<Utc>) {
        let from = self.paused_since.take().unwrap_or(since);
        push_pause(&mut self.pauses, PauseSpan { from, to: at });
    }

    /// True when a slot at `at` came while the job was paused: during an ended pause, or in
    /// the current one (`since`: when it began, for a job whose start was not kept).
    pub fn paused_at(&self, at: DateTime<Utc>, paused_now: Option<DateTime<Utc>>) -> bool {
        let current = self.paused_since.or(paused_now);
        current.is_some_and(|since| since <= at)
            || self.pauses.iter().any(|p| p.from <= at && at <= p.to)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 12, minute, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn a_pause_is_remembered_from_its_start_to_its_end_both_included() {
        let mut past = JobPast::default();
        past.pause(t(10));
        past.pause(t(12));
        assert!(past.paused_at(t(10), None) && !past.paused_at(t(9), None));
        past.resume(t(20), t(0));
        assert_eq!(past.paused_since, None);
        assert_eq!(
            past.pauses,
            vec![PauseSpan {
                from: t(10),
                to: t(20)
            }]
        );
        assert!(past.paused_at(t(20), None) && !past.paused_at(t(21), None));
        // A job paused before pauses were kept: its pause began at its last change.
        let mut legacy = JobPast::default();
        assert!(legacy.paused_at(t(5), Some(t(3))));
        legacy.resume(t(8), t(3));
        assert_eq!(legacy.pauses[0].from, t(3));
    }

    #[test]
    fn beyond_the_most_kept_the_oldest_pauses_merge_and_none_is_forgotten() {
        let mut past = JobPast::default();
        for i in 0..=MAX_PAUSES as u32 {
            past.pause(t(i * 4));
            past.resume(t(i * 4 + 1), t(0));
        }
        assert_eq!(past.pauses.len(), MAX_PAUSES);
        assert_eq!(
            past.pauses[0],
            PauseSpan {
                from: t(0),
                to: t(5)
            }
        );
        // Between the merged two: read as paused (never called without the flag).
        assert!(past.paused_at(t(2), None));
        assert!(!past.paused_at(t(10), None));
    }
}
