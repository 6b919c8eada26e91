//! The answers of bulk actions (`POST /jobs/bulk`): what happened to each job, kept for the
//! answer's own page (`GET /jobs/bulk/<answer>`), so that reloading it acts on nothing.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::Token;

/// What happened to one job.
#[derive(Clone)]
pub(crate) enum Done {
    /// The action was done (`paused`, `resumed`).
    Did(String),
    /// A run was claimed: its execution's page.
    Started(String),
    /// Nothing to do: the job already was so.
    Already(&'static str),
    /// Not done: the job changed or went since the page was shown.
    NotAsShown(String),
    /// Not done: the operations layer refused, in one line.
    Refused(String),
}

#[derive(Clone)]
pub(crate) struct BulkRow {
    pub job: String,
    pub href: String,
    pub done: Done,
}

/// How many answers are kept, and for how long: enough to reload one, not a history.
const ANSWERS_KEPT: usize = 64;
const ANSWERS_KEPT_FOR: Duration = Duration::from_secs(30 * 60);

/// The answers of bulk actions, each for the session that asked (by its CSRF token), under a
/// random name; the oldest dropped beyond [`ANSWERS_KEPT`] or after [`ANSWERS_KEPT_FOR`]. A
/// restart forgets them.
#[derive(Default)]
pub(crate) struct BulkAnswers {
    held: Mutex<Vec<Answer>>,
}

struct Answer {
    name: Token,
    session: Token,
    made: Instant,
    action: &'static str,
    rows: Vec<BulkRow>,
}

impl BulkAnswers {
    pub(crate) fn keep(&self, session: Token, action: &'static str, rows: Vec<BulkRow>) -> String {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.retain(|a| a.made.elapsed() < ANSWERS_KEPT_FOR);
        if held.len() >= ANSWERS_KEPT {
            held.remove(0);
        }
        let name = Token::generate();
        let address = format!("/jobs/bulk/{}", name.reveal());
        held.push(Answer {
            name,
            session,
            made: Instant::now(),
            action,
            rows,
        });
        address
    }

    /// The answer named `name`, when it is the session's own.
    pub(crate) fn find(&self, name: &str, session: &Token) -> Option<(&'static str, Vec<BulkRow>)> {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.iter()
            .find(|a| {
                a.name.matches(name)
                    && session.matches(a.session.reveal())
                    && a.made.elapsed() < ANSWERS_KEPT_FOR
            })
            .map(|a| (a.action, a.rows.clone()))
    }
}
