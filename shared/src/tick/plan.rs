//! The pure part of a tick: what a due job gets at `now` (a call, a skip or a miss), worked
//! out from its stored state alone. No I/O: the steps ([`super::steps`]) write what it decides.

use chrono::{DateTime, Utc};

use super::{TickConfig, chrono};
use crate::model::{
    Execution, ExecutionId, InFlight, Job, LastRun, OverlapPolicy, Status, Trigger,
};

/// Slots a backlog is walked through one by one (each counted in `coalesced`); a longer
/// backlog is searched instead (see [`latest_due_slot`]).
const MAX_BACKLOG_WALK: u32 = 1_000;

/// The latest slot of `job` at or before `now`, from `first` (a due slot), and how many due
/// slots it stands for besides itself. A backlog longer than [`MAX_BACKLOG_WALK`] slots (the
/// scheduler was down for days, or a dry run looks years ahead) is not walked: the latest slot
/// is found by looking back from `now` over doubling windows, and the count is a lower bound.
fn latest_due_slot(job: &Job, first: DateTime<Utc>, now: DateTime<Utc>) -> (DateTime<Utc>, u32) {
    let mut latest = first;
    let mut coalesced = 0u32;
    while coalesced < MAX_BACKLOG_WALK {
        match job.slot_after(latest) {
            Some(s) if s <= now => {
                latest = s;
                coalesced += 1;
            }
            _ => return (latest, coalesced),
        }
    }
    // Look back from `now`: the first slot after `now - window` for windows of 1 minute, 2, 4...
    // until one is at or before `now`. At most ~32 doublings reach back to `latest`.
    let mut window = chrono::Duration::minutes(1);
    while now - window > latest {
        if let Some(s) = job
            .slot_after(now - window)
            .filter(|s| *s <= now && *s > latest)
        {
            latest = s;
            break;
        }
        window = window * 2;
    }
    for _ in 0..MAX_BACKLOG_WALK {
        match job.slot_after(latest) {
            Some(s) if s <= now => latest = s,
            _ => break,
        }
    }
    (latest, coalesced.saturating_add(1))
}

/// What the tick will do with a due job.
pub(super) struct Plan {
    pub(super) job: Job,
    pub(super) execution: Execution,
}

/// Works out the execution a due job gets at `now`, and the job's state after it.
pub(super) fn plan(job: &Job, now: DateTime<Utc>, config: &TickConfig) -> Option<Plan> {
    if !job.enabled {
        return None;
    }
    let mut next = job.clone();
    let (slot, trigger, attempt, coalesced) = match job.state.next_slot.filter(|s| *s <= now) {
        Some(first) => {
            // Coalesce a backlog: only the latest due slot runs; it stands for the others.
            let (latest, coalesced) = latest_due_slot(job, first, now);
            next.state.next_slot = job.slot_after(latest);
            // A newer slot supersedes a retry still waiting for an older one.
            next.state.retry = None;
            (latest, Trigger::Schedule, 1, coalesced)
        }
        None => {
            let retry = job.state.retry.clone().filter(|r| r.at <= now)?;
            next.state.retry = None;
            (retry.slot, retry.trigger, retry.attempt, 0)
        }
    };
    let id = ExecutionId::new(job.id.clone(), slot, trigger, attempt);
    let late = now.signed_duration_since(slot) > chrono(job.max_lateness());
    let busy = job.overlap == OverlapPolicy::Forbid
        && job.state.inflight.as_ref().is_some_and(|f| f.until > now);
    let status = if late && trigger == Trigger::Schedule && attempt == 1 {
        Status::Missed
    } else if busy {
        Status::Skipped
    } else {
        Status::Pending
    };
    let mut execution = new_execution(job, id.clone(), status, coalesced, now, config);
    match status {
        Status::Pending => {
            execution.due_at = Some(now + chrono(config.lease));
            next.state.inflight = Some(InFlight {
                execution: id,
                until: now + chrono(config.lease + job.timeout() + config.grace),
            });
        }
        Status::Missed => {
            execution.finished_at = Some(now);
            execution.error = Some(format!(
                "not called: the slot was {} late, more than the job's max lateness of {}",
                human(now.signed_duration_since(slot)),
                human(chrono(job.max_lateness())),
            ));
            next.state.last = Some(LastRun {
                execution: id,
                status,
                at: now,
            });
        }
        _ => {
            execution.finished_at = Some(now);
            execution.error = Some(
                "not called: the previous execution was still in flight and the job forbids overlap"
                    .to_owned(),
            );
            next.state.last = Some(LastRun {
                execution: id,
                status,
                at: now,
            });
        }
    }
    Some(Plan {
        job: next,
        execution,
    })
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
        due_at: None,
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
