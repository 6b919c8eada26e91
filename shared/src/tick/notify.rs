//! Failure notifications (issue 32): after `notify_after` failed or timed-out runs in a row
//! of a job, its app's webhook is told once that the job is failing, and once that it
//! recovered at its next success.
//!
//! The decision rides the bookkeeping write ([`Ctx::finish`]'s `put_job`, conditional on the
//! job's version): the write that brings the streak to the threshold also sets the job's
//! `alerted` marker, the write that records the next success clears it, and only the tick
//! whose write succeeded posts. Racing ticks thus post each message at most once, and a job
//! that is not failing writes nothing more than before.
//!
//! Posting happens after the bookkeeping, concurrently with the tick's other work (the tick
//! loop takes the queued [`Notice`]s, `work_on`), each with a few attempts of a short timeout:
//! a webhook that fails or hangs never delays a job's call. The webhook's URL is never
//! logged (its path holds its token).

use std::sync::PoisonError;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Ctx, retry};
use crate::model::{App, AppName, Execution, JobState, Status, WebhookUrl};
use crate::store::StoreError;

/// Attempts at posting one notification.
pub(super) const NOTIFY_ATTEMPTS: u32 = 3;
/// The default time an attempt may take ([`super::TickConfig::notify_timeout`]).
pub const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);
/// The first wait between attempts; it doubles, with jitter.
const NOTIFY_FIRST_DELAY: Duration = Duration::from_millis(250);

/// What a notification says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// The job's streak reached the app's threshold.
    Failing,
    /// The job succeeded after the webhook was told it was failing.
    Recovered,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::Failing => "failing",
            Event::Recovered => "recovered",
        }
    }
}

/// Decides, on a job's state after its bookkeeping recorded a run, whether a notification
/// goes out, and marks the state accordingly. `hook`: the app's threshold and its webhook's
/// [print](App::webhook_print) when it has a webhook (`None`: nobody to tell; a
/// marker left is cleared at the next run).
pub(super) fn decide(state: &mut JobState, hook: Option<(u32, u32)>) -> Option<Event> {
    // The webhook now is the one told (a marker set before the fingerprint was kept is
    // taken as told to it).
    let told_this_one =
        |state: &JobState, print: u32| state.alerted_hook.is_none_or(|h| h == print);
    if state.alerted && state.streak == 0 {
        let told = hook.is_some_and(|(_, print)| told_this_one(state, print));
        state.alerted = false;
        state.alerted_hook = None;
        // A webhook that never heard of the failure is not told of the recovery.
        return told.then_some(Event::Recovered);
    }
    let Some((n, print)) = hook else {
        // A failure nobody is told of (the webhook was removed): the next webhook is told.
        state.alerted = false;
        state.alerted_hook = None;
        return None;
    };
    if state.alerted && !told_this_one(state, print) {
        // Replaced mid-failure: the new webhook has not heard of it.
        state.alerted = false;
        state.alerted_hook = None;
    }
    if !state.alerted && state.streak >= n {
        state.alerted = true;
        state.alerted_hook = Some(print);
        return Some(Event::Failing);
    }
    None
}

/// A notification to post once the bookkeeping that decided it is written.
pub(super) struct Notice {
    webhook: WebhookUrl,
    /// `app/name`, for the log lines.
    job: String,
    event: Event,
    body: String,
}

impl Notice {
    /// The message: `text` for Slack and Teams, `psu_sched` for a program (docs/admin.md,
    /// "Failure notifications").
    pub(super) fn new(
        webhook: WebhookUrl,
        execution: &Execution,
        event: Event,
        streak: u32,
        status: Status,
    ) -> Self {
        let job = format!("{}/{}", execution.app, execution.name);
        let slot = execution
            .scheduled_for
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        // `timed out`, as a person writes it (`psu_sched.status` keeps `timed_out`).
        let said = status.to_string().replace('_', " ");
        let text = match event {
            Event::Failing => format!(
                "psu-sched: {job} is failing: {streak} failed run{} in a row, the last {said} (execution {}, slot {slot})",
                if streak == 1 { "" } else { "s" },
                execution.id
            ),
            Event::Recovered => format!(
                "psu-sched: {job} recovered: it {status} after {streak} failed run{} in a row (execution {}, slot {slot})",
                if streak == 1 { "" } else { "s" },
                execution.id
            ),
        };
        let body = json!({
            "text": text,
            "psu_sched": {
                "event": event.name(),
                "app": execution.app.as_str(),
                "job": execution.name.as_str(),
                "streak": streak,
                "status": status.to_string(),
                "execution": execution.id.to_string(),
                "slot": slot,
            }
        });
        Self {
            webhook,
            job,
            event,
            body: body.to_string(),
        }
    }
}

impl Ctx<'_> {
    /// The notification the bookkeeping of `execution` decides, on the job's `state` after it
    /// recorded the run (marked as [`decide`] says); `streak`: the streak before the run.
    /// Reads the app's settings only when the marker may change.
    pub(super) async fn notice_for(
        &self,
        execution: &Execution,
        state: &mut JobState,
        streak: u32,
        status: Status,
    ) -> Result<Option<Notice>, StoreError> {
        if !state.alerted && state.streak == 0 {
            return Ok(None); // Not alerted and not failing.
        }
        let settings = self.webhook_of(&execution.app).await?;
        let event = decide(state, settings.as_ref().map(|(_, n, print)| (*n, *print)));
        Ok(event.zip(settings).map(|(event, (webhook, _, _))| {
            let streak = match event {
                Event::Failing => state.streak,
                Event::Recovered => streak,
            };
            Notice::new(webhook, execution, event, streak, status)
        }))
    }

    /// The app's webhook and threshold, when it has a webhook: from the records this tick
    /// read, or (a tick that read none, having nothing to call) from the store.
    pub(super) async fn webhook_of(
        &self,
        app: &AppName,
    ) -> Result<Option<(WebhookUrl, u32, u32)>, StoreError> {
        let of = |a: &App| {
            a.webhook
                .clone()
                .zip(a.webhook_print())
                .map(|(w, print)| (w, a.notify_after, print))
        };
        if self.apps_read {
            return Ok(self.apps.get(app).and_then(of));
        }
        Ok(self.store.get_app(app).await?.as_ref().and_then(of))
    }

    /// Queues `notice`: the tick posts it alongside its other work.
    pub(super) fn queue(&self, notice: Notice) {
        self.notices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(notice);
    }

    /// The notices queued since the last call.
    pub(super) fn take_notices(&self) -> Vec<Notice> {
        std::mem::take(&mut *self.notices.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Posts one notice: up to [`NOTIFY_ATTEMPTS`] attempts of the configured timeout each,
    /// with jittered doubling waits, while they fit before the tick's deadline and the failure
    /// may pass ([`NotifyError::transient`](crate::dispatch::NotifyError)). Counted sent or
    /// failed.
    pub(super) async fn post(&self, notice: Notice) {
        let timeout = self.config.notify_timeout;
        let mut delay = NOTIFY_FIRST_DELAY;
        let mut last_error = String::new();
        for attempt in 1..=NOTIFY_ATTEMPTS {
            if !self.fits_notice(timeout) {
                last_error = format!("{last_error} (no time left in the tick to try again)");
                break;
            }
            match self
                .dispatcher
                .notify(notice.webhook.expose(), &notice.body, timeout)
                .await
            {
                Ok(()) => {
                    tracing::info!(job = %notice.job, event = notice.event.name(), webhook = %notice.webhook.masked(), attempt, "notification sent");
                    self.counters.add(&self.counters.notifications_sent);
                    return;
                }
                Err(e) => {
                    tracing::info!(job = %notice.job, event = notice.event.name(), webhook = %notice.webhook.masked(), attempt, error = %e, "posting the notification failed");
                    if !e.transient {
                        last_error = format!(
                            "{} (not tried again: the same request gets the same answer)",
                            e.text
                        );
                        break;
                    }
                    last_error = e.text;
                }
            }
            if attempt < NOTIFY_ATTEMPTS {
                let wait = retry::jittered(delay);
                tokio::time::sleep(wait).await;
                delay = delay.saturating_mul(2);
            }
        }
        tracing::warn!(job = %notice.job, event = notice.event.name(), webhook = %notice.webhook.masked(), error = %last_error, "could not send the notification; it is not sent again");
        self.counters.add(&self.counters.notifications_failed);
    }

    /// True when an attempt of `timeout` fits before the tick's deadline.
    fn fits_notice(&self, timeout: Duration) -> bool {
        self.config
            .deadline
            .is_none_or(|d| Instant::now() + timeout + self.config.deadline_margin <= d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(streak: u32, alerted: bool) -> JobState {
        JobState {
            streak,
            alerted,
            ..JobState::default()
        }
    }

    /// The fingerprints of two webhooks.
    const A: u32 = 1;
    const B: u32 = 2;

    #[test]
    fn the_threshold_alerts_once_and_the_next_success_recovers_once() {
        let mut s = state(1, false);
        assert_eq!(decide(&mut s, Some((2, A))), None);
        s.streak = 2;
        assert_eq!(decide(&mut s, Some((2, A))), Some(Event::Failing));
        assert!(s.alerted);
        s.streak = 3;
        assert_eq!(decide(&mut s, Some((2, A))), None, "told once");
        s.streak = 0;
        assert_eq!(decide(&mut s, Some((2, A))), Some(Event::Recovered));
        assert!(!s.alerted);
        assert_eq!(decide(&mut s, Some((2, A))), None);
        // Without a webhook nothing is marked; a marker left is cleared at the next success.
        let mut s = state(5, false);
        assert_eq!(decide(&mut s, None), None);
        assert!(!s.alerted);
        let mut s = state(0, true);
        assert_eq!(decide(&mut s, None), None);
        assert!(!s.alerted);
    }

    /// Review of issue 32: a webhook removed while its job was alerted, then added again, never
    /// heard that the job was failing (the marker stayed). A failure recorded while the app has
    /// no webhook clears the marker: nobody is told of that failure, so the next webhook is.
    #[test]
    fn a_failure_recorded_without_a_webhook_clears_the_marker_so_the_next_webhook_is_told() {
        let mut s = state(2, true);
        assert_eq!(decide(&mut s, None), None);
        assert!(!s.alerted, "nobody was told of this failure");
        s.streak = 3;
        assert_eq!(decide(&mut s, Some((1, A))), Some(Event::Failing));
    }

    /// A webhook replaced while its job was alerted is told at the job's next failure, and
    /// one that never heard of a failure is not told of its recovery (the new webhook heard
    /// only of the recovery before).
    #[test]
    fn a_webhook_replaced_mid_failure_is_told_at_the_next_failure_and_only_then_of_the_recovery() {
        let mut s = state(2, false);
        assert_eq!(decide(&mut s, Some((2, A))), Some(Event::Failing));
        assert_eq!(s.alerted_hook, Some(A));
        s.streak = 3;
        assert_eq!(
            decide(&mut s, Some((2, B))),
            Some(Event::Failing),
            "B is told"
        );
        assert_eq!(s.alerted_hook, Some(B));
        s.streak = 4;
        assert_eq!(decide(&mut s, Some((2, B))), None, "once");
        s.streak = 0;
        assert_eq!(decide(&mut s, Some((2, B))), Some(Event::Recovered));
        // Replaced, then the job succeeds before failing again: B never heard of it.
        let mut s = state(2, false);
        assert_eq!(decide(&mut s, Some((1, A))), Some(Event::Failing));
        s.streak = 0;
        assert_eq!(
            decide(&mut s, Some((1, B))),
            None,
            "B was never told it failed"
        );
        assert!(!s.alerted && s.alerted_hook.is_none());
        // A marker from before the fingerprint was kept is the current webhook's.
        let mut s = state(0, true);
        assert_eq!(decide(&mut s, Some((1, B))), Some(Event::Recovered));
    }
}
