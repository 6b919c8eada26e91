//! The store's state rules, decided once. Each transition of a job or an execution is a pure
//! function of the stored state and the request: it answers what the caller hears and, when
//! the store must change, the new state. The memory and SQLite adapters read the stored item,
//! call the rule and write what it returns, in one lock or one transaction. The DynamoDB
//! adapter cannot read first (its writes are conditional): each of its condition expressions
//! is documented clause by clause against the rule here, and the conformance suite
//! (`tests/tests/conformance.rs`) runs the same contracts on all three.
//!
//! Every rule recognises its own retry (a request applied whose answer was lost): the same
//! request sent again answers as the first one did and changes nothing more.

use chrono::{DateTime, Utc};

use super::{
    Claim, ClaimOutcome, GuardEnd, Outcome, RECONCILER, Recorded, ShardLease, StoreError,
    TABLE_FORMAT,
};
use crate::model::{App, Execution, Job, Status};

/// What a rule decided: the answer for the caller, and the execution's new state when it
/// changes (`None`: nothing is written).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<A> {
    /// What the store method returns.
    pub answer: A,
    /// The execution to write, if any.
    pub write: Option<Execution>,
}

impl<A> Decision<A> {
    fn answer(answer: A) -> Self {
        Self {
            answer,
            write: None,
        }
    }

    fn write(answer: A, execution: Execution) -> Self {
        Self {
            answer,
            write: Some(execution),
        }
    }
}

/// What `create_job` (or `create_app`) does, given the record stored under the new one's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// The name is free: write the record.
    Write,
    /// The stored record is this very one (a job: the same id, even if it has moved on since;
    /// an app: an identical record): a create whose answer was lost, sent again. It answers as
    /// the first request did (created) and writes nothing.
    Done,
    /// Another job has the name: `AlreadyExists` (for an app: `AppExists`).
    Taken,
}

/// `create_job`: a job is created under a free (app, name). A job id is random and fixed at
/// creation, so a stored job with the new job's id is this request's own earlier write.
///
/// DynamoDB: `attribute_not_exists(pk)`, with `ReturnValuesOnConditionCheckFailure = ALL_OLD`:
/// when refused, the item that was there is the `stored` job (its id tells). A refusal without
/// the item is `Taken`.
pub fn create_job(stored: Option<&Job>, new: &Job) -> Create {
    match stored {
        None => Create::Write,
        Some(stored) if stored.id == new.id => Create::Done,
        Some(_) => Create::Taken,
    }
}

/// `create_app`: an app record is created under a free name. An app has no random id; its
/// creation instant stands in for one. A stored record identical to the new one (same
/// `created_at`, base URL, budget, `updated_at` and version) is this request's own earlier
/// write, retried after its answer was lost: `Done`, nothing written. Anything else under the
/// name is `Taken`, including this very create's record after someone changed it (a late retry
/// hears `AppExists`: a refusal where `Done` was due, never an overwrite; the job's random id
/// tells that case apart, an app's record cannot without risking taking another create at the
/// same instant for its own).
///
/// DynamoDB: `attribute_not_exists(pk)` (the key `APPS`/`APP#<name>`), with
/// `ReturnValuesOnConditionCheckFailure = ALL_OLD`: when refused, the item that was there is
/// the `stored` record. A refusal without the item is `Taken`.
pub fn create_app(stored: Option<&App>, new: &App) -> Create {
    match stored {
        None => Create::Write,
        Some(stored) if stored == new => Create::Done,
        Some(_) => Create::Taken,
    }
}

/// `create_job`, the app's half: a job by path (resolved at its app's record) may be created
/// only while that record exists and is not being deleted; a job by URL when its app has no
/// record, or one not being deleted. `app delete` marks the record (`deleting`, a write of its
/// own), then lists the app's jobs with a consistent read, then deletes the record only at the
/// version it marked: a job created before the mark is in that list (the delete is refused),
/// one created after it is refused here, so a job by path never outlives its app's record and
/// no job is created while the record is being deleted.
///
/// DynamoDB: the job's create is one TransactWriteItems: a `ConditionCheck` on the app's key
/// (`APPS`/`APP#<app>`) under `attribute_exists(pk) AND attribute_not_exists(deleting)` for a
/// job by path, `attribute_not_exists(pk) OR attribute_not_exists(deleting)` for one by URL
/// (the flag is stored only while true), and the job's `Put` under `attribute_not_exists(pk)`.
pub fn may_create_job(app: Option<&App>, job: &Job) -> bool {
    match app {
        Some(app) => !app.deleting,
        None => job.path.is_none(),
    }
}

/// `delete_app_at`: the record `read` (as `app delete` marked it) is deleted only if the stored
/// record is still it: the same record (`created_at`) at the same version. Anything written
/// since (an update, a rotation, another delete's mark) keeps it.
///
/// DynamoDB: `DeleteItem` under `created_at = :created AND version = :v`.
pub fn may_delete_app(stored: &App, read: &App) -> bool {
    stored.created_at == read.created_at && stored.version == read.version
}

/// `put_app`: `new` may replace `stored` when it is the same record (same `created_at`: an app
/// deleted and created again under its name is another record, whose version may well be the
/// one an old writer expects) and the stored version is the one the writer read (`expected`),
/// or `stored` is already exactly `new` (this very write applied before, retried after a lost
/// answer; an app write has no writer token, and an identical record is the state asked for).
///
/// DynamoDB (`write_app_put` in `dynamodb/apps.rs`), clause by clause:
/// - `attribute_exists(pk)`: a missing app is never created by a put;
/// - `AND created_at = :created`: the same record;
/// - `AND (version = :ev`: at the version read,
/// - `OR (version = :nv AND base_url = :base AND budget = :budget AND updated_at = :updated))`:
///   already exactly `new` (its name is the key and its `created_at` the clause above).
pub fn may_replace_app(stored: &App, new: &App, expected: u64) -> bool {
    stored.created_at == new.created_at && (stored.version == expected || stored == new)
}

/// `put_job`, and the job half of `claim`: `new` may replace `stored` when it is the same job
/// (same id: a job deleted and created again under its name is another job, whose version
/// may well be the one an old writer expects), and the stored version is the one the writer
/// read (`expected`), or `stored` is this very write applied before (same new version, same
/// writer token: a retry after a lost answer). A write without a writer token is never taken
/// for a retry.
///
/// DynamoDB (`job_condition`): `attribute_exists(pk) AND id = :id AND (state.version = :ev
/// OR (state.version = :nv AND state.writer = :w))`, the last clause only with a writer.
pub fn may_replace_job(stored: &Job, new: &Job, expected: u64) -> bool {
    stored.id == new.id
        && (stored.state.version == expected
            || (new.state.writer.is_some()
                && stored.state.version == new.state.version
                && stored.state.writer == new.state.writer))
}

/// `claim`: the job (if stored) and the execution (if stored) as they are now. The claim wins
/// when its execution already carries its token (this very claim, applied before: it stands
/// whatever happened since, and nothing is written again); otherwise when the job may be
/// replaced and the execution does not exist yet. `true` in the answer's second place: write
/// the claim's job and execution together.
///
/// DynamoDB (`claim`, one TransactWriteItems with the claim's token as its idempotency token):
/// the job's put under `job_condition`, the execution's under `attribute_not_exists(pk) OR
/// (claimed_by = :tok AND attribute_not_exists(dispatched_by))` (the same claim written again
/// changes nothing); a transaction cancelled by a failed condition (its cancellation reasons
/// say `ConditionalCheckFailed`; throttling and conflicts are not a lost race: `transact.rs`)
/// is then told apart by reading the execution's `claimed_by` (this claim's token: won).
pub fn claim(
    stored_job: Option<&Job>,
    stored_execution: Option<&Execution>,
    claim: &Claim,
) -> (ClaimOutcome, bool) {
    if stored_execution.is_some_and(|e| e.claimed_by.as_deref() == Some(claim.token.as_str())) {
        return (ClaimOutcome::Won, false);
    }
    let job_ok = stored_job.is_some_and(|j| may_replace_job(j, &claim.job, claim.expected_version));
    if job_ok && stored_execution.is_none() {
        (ClaimOutcome::Won, true)
    } else {
        (ClaimOutcome::Lost, false)
    }
}

/// `mark_dispatched`: a `pending` execution not yet sent, or sent by this very token (a retry),
/// is marked sent: the token, the key's hash, when, and the call's deadline as its due time.
///
/// DynamoDB: `attribute_exists(pk) AND #st = :pending AND (attribute_not_exists(dispatched_by)
/// OR dispatched_by = :tok)`.
pub fn mark_dispatched(
    stored: &Execution,
    token: &str,
    key_hash: &str,
    at: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> Decision<bool> {
    let ours = stored.dispatched_by.as_deref().is_none_or(|t| t == token);
    if stored.status != Status::Pending || !ours {
        return Decision::answer(false);
    }
    let mut next = stored.clone();
    next.dispatched_by = Some(token.to_owned());
    next.key_hash = Some(key_hash.to_owned());
    next.started_at = Some(at);
    next.due_at = Some(deadline);
    Decision::write(true, next)
}

/// `release_dispatch`: the tick that marked an execution sent (`token`) and then did not call
/// it (the store failed while marking it, so the tick cannot know whether the mark took
/// effect) gives the send back while the execution is still `pending` (no guard claimed it,
/// no outcome): it becomes "claimed, not sent" again. The token, the key's hash and the send
/// instant are cleared and its due time is `due_at`, so a later tick finds it in the due index
/// and sends it (`run_execution`'s orphan path) instead of reconciling a call never made as
/// `timed_out`. The same release retried (not sent, already due at `due_at`) answers `true`
/// and writes nothing. Refused: another token's send, an execution no longer `pending`, or one
/// never marked (its due time is still the claim's lease).
///
/// DynamoDB (`write_released`), clause by clause:
/// - `attribute_exists(pk)`: a missing execution is refused;
/// - `AND #st = :pending`: no guard claimed it, no outcome was recorded;
/// - `AND (dispatched_by = :tok`: marked sent by this token: written,
/// - `OR (attribute_not_exists(dispatched_by) AND due_at = :due_at))`: this very release,
///   retried;
///
/// the update: `SET due_at = :due_at, gsi1pk = DUE, gsi1sk = <due_at in epoch ms> REMOVE
/// dispatched_by, key_hash, started_at`. On the retry clause it writes the same values again:
/// the same state as the rule's "nothing written".
pub fn release_dispatch(stored: &Execution, token: &str, due_at: DateTime<Utc>) -> Decision<bool> {
    if stored.status != Status::Pending {
        return Decision::answer(false);
    }
    match stored.dispatched_by.as_deref() {
        Some(t) if t == token => {
            let mut next = stored.clone();
            next.dispatched_by = None;
            next.key_hash = None;
            next.started_at = None;
            next.due_at = Some(due_at);
            Decision::write(true, next)
        }
        None if stored.due_at == Some(due_at) => Decision::answer(true),
        _ => Decision::answer(false),
    }
}

/// `record_outcome`: the tick that sent the call records its outcome while the execution is
/// `pending` (or again, a retry: `outcome_by` is its token). Once the app's guard claimed the
/// execution the outcome is the app's: the tick only adds the HTTP status it saw. When the app
/// already finished, the sender counts the app's outcome as [`take_guard_end`] would (it takes
/// the execution out of the due index, `counted_by` = its token); an end another tick already
/// counted is [`Recorded::NotOurs`]. Anyone else's outcome is refused.
///
/// DynamoDB, first request: `(#st = :pending AND dispatched_by = :tok) OR outcome_by = :tok`;
/// when refused, the execution is read, this rule decides, and a second request
/// `dispatched_by = :tok AND attribute_exists(guard_nonce)` (and, when it takes the app's end,
/// `AND (due_at = :seen_due OR counted_by = :tok)`) adds the status.
pub fn record_outcome(stored: &Execution, token: &str, outcome: &Outcome) -> Decision<Recorded> {
    let sent_by_us = stored.dispatched_by.as_deref() == Some(token);
    if (stored.status == Status::Pending && sent_by_us)
        || stored.outcome_by.as_deref() == Some(token)
    {
        let mut next = stored.clone();
        next.status = outcome.status;
        next.http_status = outcome.http_status;
        next.output = outcome.output.clone();
        next.error = outcome.error.clone();
        next.finished_at = Some(outcome.finished_at);
        next.duration_ms = Some(outcome.duration_ms);
        next.outcome_by = Some(token.to_owned());
        next.due_at = None;
        return Decision::write(Recorded::Recorded, next);
    }
    if sent_by_us && stored.guard_nonce.is_some() {
        let mut next = stored.clone();
        if next.http_status.is_none() {
            next.http_status = outcome.http_status;
        }
        let counted_elsewhere = stored.status.is_final()
            && stored.due_at.is_none()
            && stored.counted_by.as_deref().is_some_and(|t| t != token);
        if counted_elsewhere {
            return Decision::write(Recorded::NotOurs, next);
        }
        if stored.status.is_final() && stored.due_at.is_some() {
            next.due_at = None;
            next.counted_by = Some(token.to_owned());
        }
        return Decision::write(Recorded::GuardOwned(stored.status), next);
    }
    Decision::answer(Recorded::NotOurs)
}

/// `untrack`: an unfinished execution its job's marker tracks gets a due-index entry of its
/// own, at its `due_at`, when its job goes away (deleted): with no job to read, a later tick
/// finds it through the index and finishes it as at format 1 (sends a claim never sent, if
/// its lease passed and the job is gone: recorded not called; reconciles a call past its
/// deadline). An execution not tracked, finished, or without a due time is left as it is:
/// `false`.
///
/// DynamoDB: `tracked = :true AND #st IN (:pending, :running)`; `SET gsi1pk = <the app's
/// shard>, gsi1sk = if_not_exists(gsi1sk, <due_at as seen>) REMOVE tracked` (a tracked
/// execution's mark and release keep `gsi1sk` at its `due_at`; a claim never marked has none,
/// and its `due_at` has not moved since the claim).
pub fn untrack(stored: &Execution) -> Decision<bool> {
    if !stored.tracked || stored.status.is_final() || stored.due_at.is_none() {
        return Decision::answer(false);
    }
    let mut next = stored.clone();
    next.tracked = false;
    Decision::write(true, next)
}

/// `reconcile`: an execution seen past its due time with no outcome becomes `timed_out`, by
/// the reconciler, if it is still exactly as seen (same status, same due time). One seen
/// without a due time, or seen finished, has no deadline that passed: refused. The same
/// reconciliation retried (same instant, same error) answers `true` again.
///
/// DynamoDB: the adapter refuses a `seen` without `due_at` or finished before sending; then
/// `(#st = :seen AND due_at = :seen_due) OR (outcome_by = :rec AND finished_at = :now AND
/// #err = :err)`.
pub fn reconcile(
    stored: &Execution,
    seen: &Execution,
    error: &str,
    now: DateTime<Utc>,
) -> Decision<bool> {
    if !may_reconcile(seen) {
        return Decision::answer(false);
    }
    let already = stored.outcome_by.as_deref() == Some(RECONCILER)
        && stored.finished_at == Some(now)
        && stored.error.as_deref() == Some(error);
    if already {
        return Decision::answer(true);
    }
    if stored.status != seen.status || stored.due_at != seen.due_at {
        return Decision::answer(false);
    }
    let mut next = stored.clone();
    next.status = Status::TimedOut;
    next.error = Some(error.to_owned());
    next.finished_at = Some(now);
    next.outcome_by = Some(RECONCILER.to_owned());
    next.due_at = None;
    Decision::write(true, next)
}

/// The part of [`reconcile`] that needs only what the tick saw: an execution with a due time
/// and no outcome yet.
pub fn may_reconcile(seen: &Execution) -> bool {
    seen.due_at.is_some() && !seen.status.is_final()
}

/// `guard_start`: the app's guard claims a `pending` execution whose key hash matches: it
/// becomes `running`, with the guard's nonce and the instant. The same nonce again on a
/// `running` execution is this very claim, retried.
///
/// DynamoDB: `#st = :pending AND key_hash = :kh`; when refused, the execution is read back and
/// a `running` one with this nonce is the retry.
pub fn guard_start(
    stored: &Execution,
    key_hash: &str,
    nonce: &str,
    at: DateTime<Utc>,
) -> Decision<bool> {
    if stored.status == Status::Running && stored.guard_nonce.as_deref() == Some(nonce) {
        return Decision::answer(true);
    }
    if stored.status != Status::Pending || stored.key_hash.as_deref() != Some(key_hash) {
        return Decision::answer(false);
    }
    let mut next = stored.clone();
    next.status = Status::Running;
    next.guard_nonce = Some(nonce.to_owned());
    next.started_at = Some(at);
    Decision::write(true, next)
}

/// `guard_end`: the guard that claimed the execution (its nonce) records the app's outcome
/// while it is `running`, or after the reconciler timed it out (the real outcome replaces the
/// guess). The execution stays in the due index, due at the end's instant, until a tick counts
/// the outcome and records it as the job's last run ([`take_guard_end`]). The same end again
/// (this very end, retried: same status and end instant) answers `true` and writes nothing,
/// so that a retry never puts an end a tick already counted back in the index.
///
/// DynamoDB: `guard_nonce = :n AND (#st = :running OR (#st = :timed_out AND outcome_by =
/// :rec))`, setting the due index keys to the end's instant; when refused, the execution is
/// read back and this very end (nonce, status, end instant) is the retry.
pub fn guard_end(stored: &Execution, nonce: &str, end: &GuardEnd) -> Decision<bool> {
    if stored.guard_nonce.as_deref() != Some(nonce) {
        return Decision::answer(false);
    }
    if is_this_guard_end(stored, end) {
        return Decision::answer(true);
    }
    let holds = stored.status == Status::Running
        || (stored.status == Status::TimedOut && stored.outcome_by.as_deref() == Some(RECONCILER));
    if !holds {
        return Decision::answer(false);
    }
    let mut next = stored.clone();
    next.status = end.status;
    if end.http_status.is_some() {
        next.http_status = end.http_status;
    }
    next.output = end.output.clone();
    next.error = end.error.clone();
    next.finished_at = Some(end.finished_at);
    next.duration_ms = Some(end.duration_ms);
    next.due_at = Some(end.finished_at);
    // The app's end is counted through the due index, as it always was: an execution its
    // job's marker tracked gets an entry of its own (the marker may be gone by now).
    next.tracked = false;
    Decision::write(true, next)
}

/// The part of [`guard_end`] that recognises its retry: `stored` already holds this end
/// (the caller checked the nonce).
pub fn is_this_guard_end(stored: &Execution, end: &GuardEnd) -> bool {
    stored.status == end.status && stored.finished_at == Some(end.finished_at)
}

/// `take_guard_end`: a tick takes an execution whose outcome the app's guard recorded (final,
/// with a guard nonce) out of the due index, if it is still due as `seen`: then this tick
/// counts the outcome (`counted_by` = its token), and no other tick will. The same request
/// retried (`counted_by` is its token) answers `true` again.
///
/// DynamoDB: the adapter refuses a `seen` without `due_at` or not final before sending; then
/// `(attribute_exists(guard_nonce) AND due_at = :seen_due AND NOT #st IN (:pending,
/// :running)) OR counted_by = :tok`, removing the due index keys.
pub fn take_guard_end(stored: &Execution, seen: &Execution, token: &str) -> Decision<bool> {
    if !may_take_guard_end(seen) {
        return Decision::answer(false);
    }
    if stored.counted_by.as_deref() == Some(token) {
        return Decision::answer(true);
    }
    let takes = stored.guard_nonce.is_some()
        && stored.status.is_final()
        && stored.due_at.is_some()
        && stored.due_at == seen.due_at;
    if !takes {
        return Decision::answer(false);
    }
    let mut next = stored.clone();
    next.due_at = None;
    next.counted_by = Some(token.to_owned());
    Decision::write(true, next)
}

/// The part of [`take_guard_end`] that needs only what the tick saw: a finished execution
/// still due.
pub fn may_take_guard_end(seen: &Execution) -> bool {
    seen.due_at.is_some() && seen.status.is_final()
}

/// Whether `stored` is still the job `read` as a person left it: the same id and the same
/// `updated_at` (the tick's bookkeeping never moves it). The condition of
/// [`super::Store::delete_job_if_unchanged`].
pub fn unchanged_by_a_person(stored: &Job, read: &Job) -> bool {
    stored.id == read.id && stored.updated_at == read.updated_at
}

/// Whether `lease` may be taken at wall-clock `now` when `stored` is the lease on its shard
/// and minute: none yet, the same holder's (a retry), or one whose holder's time ran out.
/// The condition of [`super::Store::lease_shard`].
pub fn may_take_lease(stored: Option<&ShardLease>, lease: &ShardLease, now: DateTime<Utc>) -> bool {
    stored.is_none_or(|s| s.holder == lease.holder || s.until < now)
}

/// A tick may work on a table of format `found` (its marker's, [`Store::table_format`]) only
/// when this version knows it: an older format is read as written (no format has been retired
/// yet), a newer one is refused before anything is read or written.
///
/// [`Store::table_format`]: super::Store::table_format
pub fn check_table_format(found: u64) -> Result<(), StoreError> {
    if found > TABLE_FORMAT {
        return Err(StoreError::FormatTooNew {
            found,
            known: TABLE_FORMAT,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_format_up_to_this_versions_is_accepted_and_a_newer_one_refused() {
        assert!(check_table_format(1).is_ok());
        assert!(check_table_format(TABLE_FORMAT).is_ok());
        let err = check_table_format(TABLE_FORMAT + 1).expect_err("newer");
        assert!(matches!(
            err,
            StoreError::FormatTooNew { found, known } if found == TABLE_FORMAT + 1 && known == TABLE_FORMAT
        ));
    }
}
