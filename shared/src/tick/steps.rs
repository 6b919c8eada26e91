//! The tick's steps with the store and the dispatcher: claim a due job's slot, mark it sent,
//! call, record the outcome and the job's bookkeeping, and finish what a crashed tick left.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::Instrument;

use super::plan::plan;
use super::{Ctx, chrono, retry, token};
use crate::dispatch::{CallRequest, CallResult};
use crate::model::{Execution, Job, LastRun, MAX_ERROR_TEXT, MAX_OUTPUT_TEXT, Status, cap_text};
use crate::protocol;
use crate::store::{Claim, ClaimOutcome, Outcome, Recorded, StoreError};

/// Attempts at marking an execution sent (the store's own client retries each as well).
const MARK_ATTEMPTS: u32 = 6;
/// Attempts at recording a call's outcome.
const RECORD_ATTEMPTS: u32 = 6;
/// The first wait between attempts (marking sent, recording, giving back); it doubles (with
/// jitter) each time.
const RETRY_FIRST_DELAY: Duration = Duration::from_millis(100);
/// Attempts at giving back a send marked and never made (the same waits as marking it).
const RELEASE_ATTEMPTS: u32 = 4;

impl Ctx<'_> {
    /// Claims a due job's slot (retrying when only the job's bookkeeping moved), then sends it.
    pub(super) async fn run_job(&self, job: Job) -> Result<(), StoreError> {
        // A store failure while resolving the markers does not hold up the job's next slot:
        // the claim is conditional on the version read, so it plans from the job as read and
        // reports the failure after.
        let (job, resolving) = match self.resolve_markers(job.clone()).await {
            Ok(Some(fresh)) => (fresh, Ok(())),
            Ok(None) => return Ok(()),
            Err(e) => (job, Err(e)),
        };
        let planned = self.claim_and_send(job).await;
        resolving.and(planned)
    }

    /// Plans the job's due slot or retry, claims it (retrying when only the job's
    /// bookkeeping moved) and sends it.
    async fn claim_and_send(&self, mut job: Job) -> Result<(), StoreError> {
        for _ in 0..4 {
            let paused = self.apps.get(&job.app).and_then(|a| a.paused.as_ref());
            let Some(plan) = plan(&job, self.now, self.config, self.tracks, paused) else {
                return Ok(());
            };
            if self.config.dry_run {
                self.counters.add(&self.counters.due);
                match plan.execution.status {
                    Status::Skipped => self.counters.add(&self.counters.skipped),
                    Status::Missed => self.counters.add(&self.counters.missed),
                    _ => self.counters.add(&self.counters.triggered),
                }
                return Ok(());
            }
            if plan.execution.status == Status::Pending && !self.fits(job.timeout()) {
                self.counters.add(&self.counters.deferred);
                return Ok(());
            }
            let claim_token = token();
            let expected_version = job.state.version;
            let mut new_job = plan.job;
            new_job.state.version = expected_version + 1;
            new_job.state.writer = Some(claim_token.clone());
            let mut execution = plan.execution;
            execution.claimed_by = Some(claim_token.clone());
            // A job by path: the execution records the URL it is called at (its app's base
            // URL now). Without an app record it keeps the job's display URL, and `send`
            // records it failed without calling.
            if execution.status == Status::Pending
                && let Some(Ok(url)) = self.target(&job)
            {
                execution.url = url;
            }
            let claim = Claim {
                job: new_job,
                expected_version,
                execution,
                token: claim_token,
            };
            match self.store.claim(&claim).await? {
                ClaimOutcome::Won => {
                    self.counters.add(&self.counters.due);
                    match claim.execution.status {
                        Status::Skipped => self.counters.add(&self.counters.skipped),
                        Status::Missed => self.counters.add(&self.counters.missed),
                        _ => return self.send(claim.execution, Some(claim.job)).await,
                    }
                    return Ok(());
                }
                ClaimOutcome::Lost => {
                    // Someone wrote the job since we read it. If they claimed this slot, the
                    // fresh plan no longer has it; otherwise (say, a finished execution's
                    // bookkeeping), try again from the fresh state.
                    match self.store.get_job(&job.app, &job.name).await? {
                        Some(fresh) if fresh.id == job.id => {
                            job = self.pass_over_if_it_ran(fresh, &claim).await?;
                        }
                        _ => return Ok(()),
                    }
                }
            }
        }
        tracing::warn!(app = %job.app, name = %job.name, "gave up claiming after repeated conflicts; the next tick will try again");
        Ok(())
    }

    /// After a lost claim: when the job did not change and the claim lost only because its
    /// execution already exists, that slot already ran (a writer with a slow clock set the
    /// job back onto it). The job is moved past it as the claim would have, so ticks do not
    /// lose the same claim again until the slot is passed. Returns the job to plan from.
    async fn pass_over_if_it_ran(&self, fresh: Job, lost: &Claim) -> Result<Job, StoreError> {
        if fresh.state.version != lost.expected_version
            || self
                .store
                .get_execution(&lost.execution.id)
                .await?
                .is_none()
        {
            return Ok(fresh);
        }
        let mut advanced = fresh.clone();
        advanced.state.next_slot = lost.job.state.next_slot;
        advanced.state.retry = lost.job.state.retry.clone();
        advanced.state.version = fresh.state.version + 1;
        advanced.state.writer = Some(token());
        tracing::info!(
            app = %fresh.app,
            name = %fresh.name,
            execution = %lost.execution.id,
            "the job was set back onto a slot that already ran (a writer's clock is behind?); moving it past that slot"
        );
        Ok(
            if self.store.put_job(&advanced, fresh.state.version).await? {
                advanced
            } else {
                fresh
            },
        )
    }

    /// Sends a claimed execution, records its outcome and the job's bookkeeping, in one span
    /// per execution (job, execution id, attempt): its log lines can be followed together.
    pub(super) async fn send(
        &self,
        execution: Execution,
        job: Option<Job>,
    ) -> Result<(), StoreError> {
        let span = tracing::info_span!(
            "execution",
            job = %format_args!("{}/{}", execution.app, execution.name),
            execution = %execution.id,
            attempt = execution.attempt,
        );
        self.send_in_span(execution, job).instrument(span).await
    }

    async fn send_in_span(&self, execution: Execution, job: Option<Job>) -> Result<(), StoreError> {
        let send_token = token();
        let key = protocol::new_key();
        let started = self.clock.now();
        let deadline = started + chrono(execution.timeout() + self.config.grace);
        let key_hash = protocol::key_hash(&key);
        let marked = self
            .mark_sent(&execution, &send_token, &key_hash, started, deadline)
            .await?;
        if !marked {
            return Ok(());
        }
        let job_label = format!("{}/{}", execution.app, execution.name);
        let key_generations = self.key_generations(&execution.app);
        // A job by path is called at its app's base URL as this tick read it (the same as
        // the claim recorded, unless a claim left by another tick is sent after the app's
        // base URL changed). Without an app record it is recorded failed, never called.
        let target = match job.as_ref().and_then(|j| self.target(j)) {
            None => Ok(execution.url.clone()),
            Some(target) => target,
        };
        let result = match &target {
            Ok(url) => {
                if url != &execution.url {
                    tracing::info!(claimed = %execution.url, called = %url, "calling the app's base URL as this tick read it, not the URL the claim recorded");
                }
                self.counters.called(&execution.app);
                self.dispatcher
                    .call(&CallRequest {
                        url: url.as_str(),
                        method: execution.method,
                        timeout: execution.timeout(),
                        execution: &execution.id,
                        key: &key,
                        job: &job_label,
                        key_generations: &key_generations,
                        key_salt: self
                            .apps
                            .get(&execution.app)
                            .and_then(|a| a.key_salt.as_deref()),
                        scheduled_for: execution.scheduled_for,
                        attempt: execution.attempt,
                    })
                    .await
            }
            Err(reason) => {
                tracing::warn!(error = %reason, "a job by path whose app has no usable record: recorded failed, not called");
                CallResult {
                    status: Status::Failed,
                    http_status: None,
                    output: None,
                    error: Some(reason.clone()),
                    duration: Duration::ZERO,
                }
            }
        };
        drop(key);
        let outcome = Outcome {
            status: result.status,
            http_status: result.http_status,
            output: result.output.map(|o| cap_text(o, MAX_OUTPUT_TEXT)),
            error: result.error.map(|e| cap_text(e, MAX_ERROR_TEXT)),
            finished_at: self.clock.now(),
            duration_ms: u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
        };
        tracing::info!(
            execution = %execution.id,
            job = %job_label,
            status = %outcome.status,
            http_status = ?outcome.http_status,
            duration_ms = outcome.duration_ms,
            "call finished"
        );
        let recorded = self.record(&execution, &send_token, &outcome).await?;
        let (final_status, may_retry) = match recorded {
            Recorded::Recorded => (Some(outcome.status), true),
            // The app's guard claimed it: the work may have been done, so never retry.
            Recorded::GuardOwned(status) => (Some(status).filter(|s| s.is_final()), false),
            Recorded::NotOurs => (None, false),
        };
        if let Some(status) = final_status {
            self.counters.outcome(&execution.app, status);
        }
        // The guard still runs the job (our call timed out, its work goes on): it stays in
        // flight until its end is recorded or its marker's time is up.
        let running = matches!(recorded, Recorded::GuardOwned(s) if !s.is_final());
        self.finish(
            &execution,
            job,
            final_status,
            may_retry,
            running,
            self.clock.now(),
        )
        .await
    }

    /// Runs one store write again, with the same token, while the store fails transiently:
    /// up to `attempts` in all, with jittered doubling waits, while `time_for(wait)` says the
    /// tick has time. The store recognises a token's own earlier write, so a write applied
    /// whose answer was lost answers as it would have. The last result, and the attempts made.
    async fn with_same_token<T, F>(
        &self,
        what: &'static str,
        attempts: u32,
        time_for: impl Fn(Duration) -> bool,
        mut write: impl FnMut() -> F,
    ) -> (Result<T, StoreError>, u32)
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut delay = RETRY_FIRST_DELAY;
        let mut attempt = 1;
        loop {
            match write().await {
                Err(e) if e.is_transient() && attempt < attempts => {
                    let wait = retry::jittered(delay);
                    if !time_for(wait) {
                        return (Err(e), attempt);
                    }
                    tracing::info!(error = %e, attempt, "{what} failed; trying again with the same token");
                    tokio::time::sleep(wait).await;
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
                result => return (result, attempt),
            }
        }
    }

    /// Marks the execution sent (see [`Self::with_same_token`]), so that a mark applied whose
    /// answer was lost is recognised and the call goes out. `false`: someone else sent it.
    /// When the store keeps failing until the call no longer fits in the tick, its error:
    /// the execution was not called here, and the send is given back
    /// ([`Self::leave_unsent`]).
    async fn mark_sent(
        &self,
        execution: &Execution,
        token: &str,
        key_hash: &str,
        started: chrono::DateTime<chrono::Utc>,
        deadline: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        let (result, attempt) = self
            .with_same_token(
                "marking the execution sent",
                MARK_ATTEMPTS,
                |wait| self.fits(execution.timeout() + wait),
                || {
                    self.store
                        .mark_dispatched(&execution.id, token, key_hash, started, deadline)
                },
            )
            .await;
        match result {
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, attempt, "could not mark the execution sent; it was not called");
                self.leave_unsent(execution, token).await;
                Err(e)
            }
            other => other,
        }
    }

    /// Records the call's outcome (see [`Self::with_same_token`]): the tick knows how the
    /// call ended, and a later tick could only guess (`timed_out`, "whether the job ran is
    /// unknown").
    async fn record(
        &self,
        execution: &Execution,
        token: &str,
        outcome: &Outcome,
    ) -> Result<Recorded, StoreError> {
        let (result, attempt) = self
            .with_same_token(
                "recording the outcome",
                RECORD_ATTEMPTS,
                |_| true,
                || self.store.record_outcome(&execution.id, token, outcome),
            )
            .await;
        if let Err(e) = &result {
            tracing::error!(error = %e, attempt, status = %outcome.status, "could not record the call's outcome; a later tick will reconcile the execution as timed out");
        }
        result
    }

    /// An execution this tick may have marked sent with `token` (the store did not answer)
    /// and did not call. Left marked, a later tick would record it `timed_out` after its
    /// deadline, as a call that may have run, and the slot would never be called: the send is
    /// given back (`release_dispatch`, retried with the same waits as the mark), making the
    /// execution claimed-not-sent and due at the tick's instant, so a later tick sends it.
    async fn leave_unsent(&self, execution: &Execution, token: &str) {
        let (result, attempt) = self
            .with_same_token(
                "giving back the send",
                RELEASE_ATTEMPTS,
                |wait| self.fits(wait),
                || self.store.release_dispatch(&execution.id, token, self.now),
            )
            .await;
        let error = match result {
            Ok(true) => {
                tracing::warn!(
                    execution = %execution.id,
                    attempt,
                    "not called: the store failed while marking the execution sent; the send was given back, and a later tick sends it"
                );
                return;
            }
            Ok(false) => {
                tracing::warn!(
                    execution = %execution.id,
                    attempt,
                    "not called: the store failed while marking the execution sent; there was no send of this tick to give back (the mark never took effect, and a later tick sends it after the claim's lease; or the execution moved on)"
                );
                return;
            }
            Err(e) => e,
        };
        tracing::error!(
            execution = %execution.id,
            error = %error,
            attempt,
            "not called, and the store failed while giving the send back: if the mark took effect, the execution stays marked sent though it was never called, and a later tick will record it timed out after its deadline although it never ran"
        );
    }

    /// Updates the job after an execution ended (at `at`): clears the in-flight marker,
    /// records the last run (unless a run that finished later is recorded: [`supersedes`]),
    /// and schedules a retry when one is due.
    pub(super) async fn finish(
        &self,
        execution: &Execution,
        job: Option<Job>,
        status: Option<Status>,
        may_retry: bool,
        still_running: bool,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if execution.backfill {
            // A backfilled call leaves the live schedule alone: it is never the job's last
            // run, retry or marker, whichever tick records, reconciles or counts it.
            return Ok(());
        }
        let retry_wanted = retry::wanted(execution, status, may_retry);
        let mut job = match job {
            Some(job) => job,
            None => match self.store.get_job(&execution.app, &execution.name).await? {
                Some(job) => job,
                None => return Ok(()),
            },
        };
        let mut retried = false;
        for _ in 0..5 {
            if &job.id != execution.id.job_id() {
                return Ok(()); // Deleted, or deleted and created again: not this job's history.
            }
            if execution.tracked
                && !job
                    .state
                    .inflight
                    .iter()
                    .any(|f| f.execution == execution.id)
            {
                // Its marker is gone: another tick did this bookkeeping (markers::resolve).
                return Ok(());
            }
            let mut next = job.clone();
            if !still_running {
                next.state.inflight.retain(|f| f.execution != execution.id);
            }
            let mut notice = None;
            if let Some(status) = status {
                let run = LastRun {
                    execution: execution.id.clone(),
                    status,
                    at,
                };
                if supersedes(next.state.last.as_ref(), &run) {
                    let streak = next.state.streak;
                    next.record_outcome(&run);
                    next.state.last = Some(run);
                    // The failure notification this write decides (tick::notify).
                    notice = self
                        .notice_for(execution, &mut next.state, streak, status)
                        .await?;
                }
            }
            retried = false;
            if retry_wanted
                && let Some(retry) =
                    retry::next_attempt(execution, &next, self.now, self.config.retry_backoff)
            {
                let trigger = retry.trigger;
                *next.state.retry_of(trigger) = Some(retry);
                retried = true;
            }
            if next == job {
                return Ok(());
            }
            let expected = job.state.version;
            next.state.version = expected + 1;
            next.state.writer = Some(token());
            if self.store.put_job(&next, expected).await? {
                if retried {
                    self.counters.add(&self.counters.retried);
                }
                if let Some(notice) = notice {
                    self.queue(notice);
                }
                return Ok(());
            }
            match self.store.get_job(&execution.app, &execution.name).await? {
                Some(fresh) => job = fresh,
                None => return Ok(()),
            }
        }
        tracing::warn!(execution = %execution.id, retried, "could not update the job after its execution (repeated conflicts)");
        Ok(())
    }

    /// True when a call of `timeout` and the recording of its outcome fit before the deadline.
    fn fits(&self, timeout: Duration) -> bool {
        self.config
            .deadline
            .is_none_or(|d| Instant::now() + timeout + self.config.deadline_margin <= d)
    }

    /// An execution the index returned: a claim never sent, a call with no outcome, or an
    /// outcome the app's guard recorded after the call's answer.
    pub(super) async fn run_execution(&self, execution: Execution) -> Result<(), StoreError> {
        if execution.status.is_final() {
            return self.count_guard_end(execution).await;
        }
        let orphan = execution.status == Status::Pending && execution.dispatched_by.is_none();
        if self.config.dry_run {
            let counter = if orphan {
                &self.counters.triggered
            } else {
                &self.counters.reconciled
            };
            self.counters.add(counter);
            return Ok(());
        }
        if orphan && !self.fits(execution.timeout()) {
            self.counters.add(&self.counters.deferred);
            return Ok(());
        }
        if orphan {
            // Claimed by a tick that stopped before sending it: send it now, if the job
            // still exists as it was.
            let app_paused = self
                .apps
                .get(&execution.app)
                .and_then(|a| a.paused.as_ref());
            match self.store.get_job(&execution.app, &execution.name).await? {
                Some(job)
                    if &job.id == execution.id.job_id() && job.enabled && app_paused.is_none() =>
                {
                    self.counters.add(&self.counters.due);
                    return self.send(execution, Some(job)).await;
                }
                _ => {
                    let reason = match app_paused {
                        Some(pause) => format!(
                            "not called: the app was paused before the call was sent ({})",
                            pause.reason
                        ),
                        None => {
                            "not called: the job was deleted or paused before the call was sent"
                                .to_owned()
                        }
                    };
                    if self.store.reconcile(&execution, &reason, self.now).await? {
                        self.counters.add(&self.counters.reconciled);
                    }
                    return Ok(());
                }
            }
        }
        let error = match execution.status {
            Status::Running => {
                "no outcome was recorded: the job started (its guard claimed it) but never reported its end before the timeout plus grace"
            }
            _ => {
                "no outcome was recorded before the timeout plus grace: the tick that sent the call may have crashed, so whether the job ran is unknown"
            }
        };
        if self.store.reconcile(&execution, error, self.now).await? {
            self.counters.add(&self.counters.reconciled);
            // A pending execution was never claimed by the app: retrying is safe when the
            // job asked for retries. One the guard claimed may have done its work.
            let may_retry = execution.status == Status::Pending;
            self.finish(
                &execution,
                None,
                Some(Status::TimedOut),
                may_retry,
                false,
                self.clock.now(),
            )
            .await?;
        }
        Ok(())
    }

    /// An execution whose outcome the app's guard recorded after the call's answer (the tick
    /// that sent it heard the run was still going): records it as the job's last run (never
    /// retried: the app owned the run), then counts it if this tick is the one that takes it
    /// out of the due index. The job is written first, so a tick that dies in between leaves
    /// the execution due, and a later tick finds the job already up to date.
    pub(super) async fn count_guard_end(&self, execution: Execution) -> Result<(), StoreError> {
        if self.config.dry_run {
            self.counters.add(&self.counters.guard_finished);
            return Ok(());
        }
        let status = execution.status;
        let at = execution.finished_at.unwrap_or(self.now);
        self.finish(&execution, None, Some(status), false, false, at)
            .await?;
        if self.store.take_guard_end(&execution, &token()).await? {
            tracing::info!(execution = %execution.id, %status, "counted the outcome the app's guard recorded");
            self.counters.add(&self.counters.guard_finished);
            self.counters.outcome(&execution.app, status);
        }
        Ok(())
    }
}

/// True when `run` is to replace `current` as the job's last run: the last run is the one
/// that finished last, and a newer record of the same execution (the app's real outcome
/// after the reconciler's guess) replaces the older one.
pub(super) fn supersedes(current: Option<&LastRun>, run: &LastRun) -> bool {
    current.is_none_or(|c| c.execution == run.execution || c.at <= run.at)
}
