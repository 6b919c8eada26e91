//! The tick's due items in lanes, one per app's call budget (moved out of `tick/mod.rs`
//! unchanged, to keep that file under 600 lines).

use std::collections::{HashMap, VecDeque};

use super::may_call;
use crate::model::{App, AppName};
use crate::store::DueItem;

/// The tick's due items in lanes: one per app with a record (its items that may call, at
/// most the app's budget of them worked on at once), and one lane without a limit (the items
/// that never call, and those of apps without a record, as before app records). Items are
/// taken in turn from the lanes that may start one, in due order within each lane, so an app
/// at its budget never holds up another app's calls.
pub(super) struct Lanes {
    /// Lane 0 has no budget.
    lanes: Vec<Lane>,
    /// The lane the next item is looked for first (round robin).
    turn: usize,
}

struct Lane {
    budget: usize,
    running: usize,
    waiting: VecDeque<DueItem>,
}

impl Lanes {
    pub(super) fn new(items: Vec<DueItem>, apps: &HashMap<AppName, App>) -> Self {
        let mut lanes = vec![Lane {
            budget: usize::MAX,
            running: 0,
            waiting: VecDeque::new(),
        }];
        let mut by_app: HashMap<&AppName, usize> = HashMap::new();
        for item in items {
            let app = match &item {
                DueItem::Job(job) => &job.app,
                DueItem::Execution(e) => &e.app,
            };
            let lane = match apps.get(app) {
                Some(record) if may_call(&item) => {
                    *by_app.entry(&record.name).or_insert_with(|| {
                        lanes.push(Lane {
                            budget: usize::try_from(record.budget).unwrap_or(usize::MAX).max(1),
                            running: 0,
                            waiting: VecDeque::new(),
                        });
                        lanes.len() - 1
                    })
                }
                _ => 0,
            };
            lanes[lane].waiting.push_back(item);
        }
        Self { lanes, turn: 0 }
    }

    /// The next item that may start, and its lane.
    pub(super) fn next(&mut self) -> Option<(usize, DueItem)> {
        let n = self.lanes.len();
        for k in 0..n {
            let i = (self.turn + k) % n;
            let lane = &mut self.lanes[i];
            if lane.running < lane.budget
                && let Some(item) = lane.waiting.pop_front()
            {
                lane.running += 1;
                self.turn = (i + 1) % n;
                return Some((i, item));
            }
        }
        None
    }

    /// An item of `lane` finished.
    pub(super) fn done(&mut self, lane: usize) {
        if let Some(lane) = self.lanes.get_mut(lane) {
            lane.running = lane.running.saturating_sub(1);
        }
    }
}
