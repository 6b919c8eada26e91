//! The pure part of a tick: what a due job gets at `now` (a call, a skip or a miss), worked
//! out from its stored state alone. No I/O: the steps ([`super::steps`]) write what it decides.

use chrono::{DateTime, Utc};

use super::{TickConfig, chrono};
use crate::model::{
    AppPause, Execution, ExecutionId, InFlight, Job, LastRun, OverlapPolicy, Status, Trigger,
};

/// Slots a backlog is walked through one by one (each counted in `coalesced`); a longer
/// backlog is searched instead (see [`latest_due_slot`]).
const MAX_BACKLOG_WALK: u32 = 1_000;

/// The latest slot of `job` due at or before `now` (its call's due instant, [`Job::due_of`],
/// at or before `now`), from `first` (a due slot), and how many due slots it stands for
/// besides itself. A backlog of more than [`MAX_BACKLOG_WALK`] slots (the
/// scheduler was down for days, or a dry run looks years ahead) is not walked: the latest slot
/// is found by bisection (about 40 steps whatever the backlog), and the count is a lower bound.
pub(super) fn latest_due_slot(
    job: &Job,
    first: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, u32) {
    // A jitter is less than any gap between two slots, so due instants keep the slots' order
    // and the bisection below still holds.
    let due_after = |t: DateTime<Utc>| job.slot_after(t).filter(|s| job.due_of(*s) <= now);
    let mut latest = first;
    let mut coalesced = 0u32;
    loop {
        match due_after(latest) {
            None => return (latest, coalesced),
            Some(s) if coalesced < MAX_BACKLOG_WALK => {
                latest = s;
                coalesced += 1;
            }
            Some(_) => break,
        }
    }
    // More slots are due than the walk takes. `slot_after` never goes back as its argument
    // grows, so bisect for the last second `lo` whose next slot is still due: that next slot
    // is the latest one. Invariant: a slot after `lo` is due, none after `hi` is.
    let (mut lo, mut hi) = (latest, now);
    while hi - lo > chrono::Duration::seconds(1) {
        let mid = lo + (hi - lo) / 2;
        if due_after(mid).is_some() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let latest = due_after(lo).unwrap_or(latest);
    // At least the walked slots, the one after them, and the latest.
    (latest, coalesced.saturating_add(1))
}

/// What the tick will do with a due job.
pub(super) struct Plan {
    pub(super) job: Job,
    pub(super) execution: Execution,
}

/// Works out the execution a due job gets at `now`, and the job's state after it. With
/// `tracks` (a table of format 3 or later), a call's marker tracks its execution
/// ([`InFlight`]): the claim leaves the job's index key where it was ([`in_flight`]).
/// While its app is `paused`, the slot (or retry) is passed over: recorded `skipped` with the
/// pause's reason, never called, and the job moves on to its next slot as after a call.
pub(super) fn plan(
    job: &Job,
    now: DateTime<Utc>,
    config: &TickConfig,
    tracks: bool,
    paused: Option<&AppPause>,
) -> Option<Plan> {
    if !job.enabled {
        return None;
    }
    let mut next = job.clone();
    let next_due = job.state.next_slot.filter(|s| job.due_of(*s) <= now);
    let (slot, trigger, attempt, coalesced) = match next_due {
        Some(first) => {
            // Coalesce a backlog: only the latest due slot runs; it stands for the others.
            let (latest, coalesced) = latest_due_slot(job, first, now);
            next.state.next_slot = job.slot_after(latest);
            // A newer slot supersedes a retry still waiting for an older one.
            next.state.retry = None;
            (latest, Trigger::Schedule, 1, coalesced)
        }
        None => {
            let retry = job.state.first_retry().filter(|r| r.at <= now)?.clone();
            *next.state.retry_of(retry.trigger) = None;
            (retry.slot, retry.trigger, retry.attempt, 0)
        }
    };
    let id = ExecutionId::new(job.id.clone(), slot, trigger, attempt);
    // Lateness counts from the call's due instant: the slot plus its jitter offset.
    let offset = match trigger {
        Trigger::Schedule => job.offset_of(slot),
        Trigger::Manual => chrono::Duration::zero(),
    };
    let due = slot + offset;
    let late = now.signed_duration_since(due) > chrono(job.max_lateness());
    let busy = job.overlap == OverlapPolicy::Forbid && job.state.busy_at(now);
    // Markers whose time is up are dropped (their calls are reconciled by then); a tracking
    // marker only once a tick has resolved its execution (steps::resolve_markers).
    next.state.inflight.retain(|f| f.tracks() || f.until > now);
    let status = if paused.is_some() {
        Status::Skipped
    } else if late && trigger == Trigger::Schedule && attempt == 1 {
        Status::Missed
    } else if busy {
        Status::Skipped
    } else {
        Status::Pending
    };
    let mut execution = new_execution(job, id.clone(), status, coalesced, now, config);
    execution.offset_ms = u64::try_from(offset.num_milliseconds()).unwrap_or(0);
    match status {
        Status::Pending => {
            execution.due_at = Some(now + chrono(config.lease));
            execution.tracked = tracks;
            next.state
                .inflight
                .push(in_flight(job, id, now, config, tracks));
        }
        Status::Missed => {
            execution.finished_at = Some(now);
            execution.error = Some(format!(
                "not called: the slot was {} late{}, more than the job's max lateness of {}",
                human(now.signed_duration_since(due)),
                if offset.is_zero() {
                    String::new()
                } else {
                    format!(
                        " (from the slot plus its jitter offset of {})",
                        human(offset)
                    )
                },
                human(chrono(job.max_lateness())),
            ));
            let run = LastRun {
                execution: id,
                status,
                at: now,
            };
            next.record_outcome(&run);
            next.state.last = Some(run);
        }
        _ => {
            execution.finished_at = Some(now);
            execution.error = Some(match paused {
                Some(pause) => pause.skipped_text(),
                None => "not called: the previous execution was still in flight and the job forbids overlap"
                    .to_owned(),
            });
            let run = LastRun {
                execution: id,
                status,
                at: now,
            };
            next.record_outcome(&run);
            next.state.last = Some(run);
        }
    }
    Some(Plan {
        job: next,
        execution,
    })
}

/// The in-flight marker of a call of `job` (as read) claimed at `now`. A tracking one is
/// anchored at the job's index key as read, capped at `now` (a manual run of a job due
/// later): the claim then leaves the key where it was (unless it was later than `now`), and
/// the bookkeeping that removes the marker moves it once.
pub(super) fn in_flight(
    job: &Job,
    execution: ExecutionId,
    now: DateTime<Utc>,
    config: &TickConfig,
    tracks: bool,
) -> InFlight {
    InFlight {
        execution,
        until: now + chrono(config.lease + job.timeout() + config.grace),
        anchor: tracks.then(|| job.index_at().map_or(now, |at| at.min(now))),
        check_at: tracks.then(|| now + chrono(config.lease)),
    }
}

/// What a change to a job does to a slot that came due before it and that no tick has
/// claimed yet (an EventBridge tick can come late): `changed` is the job as the change writes
/// it, with its next slot recomputed from `now`. When the new timing still has that slot, the
/// job keeps it (the tick calls it as usual). Otherwise the slot is recorded `missed`, with
/// the reason, by the returned execution, written in the same claim as the change.
pub fn slot_left_by_change(
    old: &Job,
    changed: &mut Job,
    now: DateTime<Utc>,
    config: &TickConfig,
) -> Option<Execution> {
    let first = old
        .state
        .next_slot
        .filter(|s| old.enabled && old.due_of(*s) <= now && changed.state.next_slot != Some(*s))?;
    let (slot, coalesced) = latest_due_slot(old, first, now);
    let still_a_slot =
        changed.enabled && changed.slot_after(slot - chrono::Duration::seconds(1)) == Some(slot);
    if still_a_slot {
        changed.state.next_slot = Some(slot);
        return None;
    }
    let id = ExecutionId::new(old.id.clone(), slot, Trigger::Schedule, 1);
    let mut execution = new_execution(old, id.clone(), Status::Missed, coalesced, now, config);
    execution.finished_at = Some(now);
    execution.error = Some(if changed.enabled {
        "not called: the job's timing was changed after this slot came due and before a tick claimed it, and the new timing does not have this slot".to_owned()
    } else {
        "not called: the job was paused after this slot came due and before a tick claimed it"
            .to_owned()
    });
    changed.state.last = Some(LastRun {
        execution: id,
        status: Status::Missed,
        at: now,
    });
    Some(execution)
}

pub(super) fn new_execution(
    job: &Job,
    id: ExecutionId,
    status: Status,
    coalesced: u32,
    now: DateTime<Utc>,
    config: &TickConfig,
) -> Execution {
    Execution {
        app: job.app.clone(),
        name: job.name.clone(),
        scheduled_for: id.slot(),
        offset_ms: 0,
        attempt: id.attempt(),
        trigger: id.trigger(),
        id,
        status,
        http_status: None,
        output: None,
        error: None,
        created_at: now,
        started_at: None,
        finished_at: None,
        duration_ms: None,
        coalesced,
        url: job.url.clone(),
        method: job.method,
        timeout_ms: job.timeout_ms,
        retries: job.retries,
        key_hash: None,
        claimed_by: None,
        dispatched_by: None,
        guard_nonce: None,
        outcome_by: None,
        counted_by: None,
        due_at: None,
        backfill: false,
        tracked: false,
        expires_at: now + chrono(config.retention),
    }
}

fn human(d: chrono::Duration) -> String {
    let secs = d.num_seconds().max(0);
    match secs {
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::model::{AppName, JobName, JobUrl, NewJob};

    fn utc(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, d, h, m, 0)
            .single()
            .expect("valid")
    }

    fn job(schedule: &str, created: DateTime<Utc>) -> Job {
        NewJob::new(
            AppName::parse("app").expect("app"),
            JobName::parse("job").expect("name"),
            JobUrl::parse("https://app.example/job").expect("url"),
            schedule.parse().expect("schedule"),
        )
        .build(created)
        .expect("job")
    }

    /// 2026-06-01 is a Monday.
    #[test]
    fn a_long_backlog_runs_its_true_latest_slot_across_days_without_slots() {
        let job = job(
            "* * * * MON,TUE",
            utc(1, 0, 0) - chrono::Duration::minutes(1),
        );
        let first = job.state.next_slot.expect("a slot");
        // Thursday noon: the latest slot is Tuesday 23:59, across a Wednesday without any.
        let (latest, coalesced) = latest_due_slot(&job, first, utc(4, 12, 0));
        assert_eq!(latest, utc(2, 23, 59));
        assert!(coalesced > MAX_BACKLOG_WALK, "{coalesced}");
    }

    #[test]
    fn a_long_backlog_of_a_job_that_ended_runs_its_last_slot() {
        let mut job = job("* * * * *", utc(1, 0, 0) - chrono::Duration::minutes(1));
        job.end = Some(utc(1, 0, 0) + chrono::Duration::minutes(4_999));
        let first = job.state.next_slot.expect("a slot");
        let (latest, _) = latest_due_slot(&job, first, utc(8, 0, 0));
        assert_eq!(latest, utc(1, 0, 0) + chrono::Duration::minutes(4_999));
    }

    #[test]
    fn a_backlog_is_counted_exactly_up_to_the_walk_and_as_a_lower_bound_beyond() {
        let job = job("* * * * *", utc(1, 0, 0) - chrono::Duration::minutes(1));
        let first = job.state.next_slot.expect("a slot");
        for behind in [0, 1, 999, 1_000] {
            let now = first + chrono::Duration::minutes(behind);
            assert_eq!(
                latest_due_slot(&job, first, now),
                (now, u32::try_from(behind).expect("small")),
                "{behind} slots behind"
            );
        }
        let now = first + chrono::Duration::minutes(1_001);
        assert_eq!(latest_due_slot(&job, first, now), (now, 1_001));
        let now = first + chrono::Duration::minutes(5_000);
        let (latest, coalesced) = latest_due_slot(&job, first, now);
        assert_eq!(latest, now);
        assert!((1_001..=5_000).contains(&coalesced), "{coalesced}");
    }
}
