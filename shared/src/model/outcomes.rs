//! A job's latest outcomes and its failure streak, kept on the job record by the tick's
//! bookkeeping write (the one that records the last run), so that a listing shows each job's
//! recent health without reading its executions.
//!
//! The outcomes are a short string, one letter per run, oldest first: `s` succeeded, `f`
//! failed, `t` timed out, `k` skipped, `m` missed. Ten of them and the streak add about 30
//! bytes to the job's item.

use super::{Job, LastRun, Status};

/// How many outcomes a job record keeps.
pub const RECENT_OUTCOMES: usize = 10;

/// The letter of a finished status in [`crate::model::JobState::outcomes`]; `None` for a
/// status that is not an outcome (pending, running).
pub fn outcome_letter(status: Status) -> Option<char> {
    match status {
        Status::Succeeded => Some('s'),
        Status::Failed => Some('f'),
        Status::TimedOut => Some('t'),
        Status::Skipped => Some('k'),
        Status::Missed => Some('m'),
        Status::Pending | Status::Running => None,
    }
}

/// The status a letter of [`crate::model::JobState::outcomes`] stands for.
pub fn outcome_of_letter(letter: char) -> Option<Status> {
    match letter {
        's' => Some(Status::Succeeded),
        'f' => Some(Status::Failed),
        't' => Some(Status::TimedOut),
        'k' => Some(Status::Skipped),
        'm' => Some(Status::Missed),
        _ => None,
    }
}

fn failure(status: Status) -> bool {
    matches!(status, Status::Failed | Status::TimedOut)
}

impl Job {
    /// Records `run` among the job's latest outcomes and updates its failure streak. Called
    /// by the tick just before `run` becomes the job's last run: a newer record of the same
    /// execution as the last run (the app's real outcome after the reconciler's guess)
    /// replaces its outcome instead of adding one, so recording twice changes nothing.
    pub fn record_outcome(&mut self, run: &LastRun) {
        let Some(letter) = outcome_letter(run.status) else {
            return;
        };
        let state = &mut self.state;
        if state
            .last
            .as_ref()
            .is_some_and(|l| l.execution == run.execution)
            && let Some(old) = state.outcomes.pop()
            && outcome_of_letter(old).is_some_and(failure)
        {
            state.streak = state.streak.saturating_sub(1);
        }
        state.outcomes.push(letter);
        let extra = state.outcomes.len().saturating_sub(RECENT_OUTCOMES);
        state.outcomes.drain(..extra);
        if failure(run.status) {
            state.streak = state.streak.saturating_add(1);
        } else if run.status == Status::Succeeded {
            state.streak = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppName, ExecutionId, JobName, JobUrl, NewJob, Trigger};

    fn job() -> Job {
        NewJob::new(
            AppName::parse("billing").unwrap_or_else(|e| panic!("{e}")),
            JobName::parse("invoices").unwrap_or_else(|e| panic!("{e}")),
            JobUrl::parse("https://billing.example.edu/jobs/invoices")
                .unwrap_or_else(|e| panic!("{e}")),
            "* * * * *".parse().unwrap_or_else(|e| panic!("{e}")),
        )
        .build(chrono::Utc::now())
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn run(job: &Job, minute: i64, status: Status) -> LastRun {
        let at = chrono::DateTime::UNIX_EPOCH + chrono::Duration::minutes(minute);
        LastRun {
            execution: ExecutionId::new(job.id.clone(), at, Trigger::Schedule, 1),
            status,
            at,
        }
    }

    /// What the tick does: record the outcome, then make it the last run.
    fn finish(job: &mut Job, run: LastRun) {
        job.record_outcome(&run);
        job.state.last = Some(run);
    }

    #[test]
    fn failures_in_a_row_make_the_streak_and_a_success_ends_it() {
        let mut job = job();
        for (m, status) in [
            (1, Status::Succeeded),
            (2, Status::Failed),
            (3, Status::TimedOut),
            (4, Status::Failed),
        ] {
            let r = run(&job, m, status);
            finish(&mut job, r);
        }
        assert_eq!((job.state.outcomes.as_str(), job.state.streak), ("sftf", 3));
        let r = run(&job, 5, Status::Succeeded);
        finish(&mut job, r);
        assert_eq!(
            (job.state.outcomes.as_str(), job.state.streak),
            ("sftfs", 0)
        );
    }

    #[test]
    fn only_the_latest_ten_are_kept_and_a_second_record_of_the_last_run_replaces_it() {
        let mut job = job();
        for m in 0..12 {
            let r = run(&job, m, Status::Failed);
            finish(&mut job, r);
        }
        assert_eq!(job.state.outcomes, "f".repeat(RECENT_OUTCOMES));
        assert_eq!(job.state.streak, 12, "the streak counts beyond the strip");
        // The reconciler's guess (timed out), then the app's real outcome of the same run.
        let guess = run(&job, 20, Status::TimedOut);
        finish(&mut job, guess.clone());
        assert_eq!(job.state.streak, 13);
        finish(&mut job, guess.clone());
        assert_eq!(
            job.state.streak, 13,
            "recording the same run twice changes nothing"
        );
        let real = LastRun {
            status: Status::Succeeded,
            ..guess
        };
        finish(&mut job, real);
        assert_eq!(job.state.streak, 0);
        assert!(job.state.outcomes.ends_with("fs"), "{}", job.state.outcomes);
        assert_eq!(job.state.outcomes.len(), RECENT_OUTCOMES);
    }
}
