//! Backfill against the live schedule, on moto (issue 32): a live tick's retry racing a
//! backfill for the same slot calls it once; a backfilled call left by a dying backfill is
//! sent or reconciled by a later tick and still never becomes the job's last run or retry.

use std::sync::Arc;

use chrono::Duration;
use shared::clock::FixedClock;
use shared::model::{Execution, ExecutionId, Job, Status, Trigger};
use shared::store::{Claim, ClaimOutcome, Store};
use shared::tick::backfill::{Called, SlotPlan, Verdict, call_slots};
use shared::tick::tick;

use crate::helpers::jobserver::Behavior;
use crate::world::{World, utc};

/// Requests the server got for attempt `attempt` of the 09:00 slot of `path`.
fn attempts(world: &World, path: &str, attempt: u32) -> usize {
    world
        .server
        .requests_to(path)
        .iter()
        .filter(|r| {
            r.header("x-psu-sched-execution")
                .is_some_and(|id| id.ends_with(&format!(".20260606T090000Z.s{attempt}")))
        })
        .count()
}

/// A job every 10 minutes with one retry whose 09:00 call failed: attempt 2 is due at 09:00:30
/// on the live schedule.
async fn failed_at_nine(world: &World, name: &str) -> Job {
    let path = format!("/{name}");
    let mut spec = world.spec(name, &path, "*/10 * * * *");
    spec.retries = 1;
    world.create(spec).await;
    world.server.set(&path, Behavior::Status(500));
    world.set(utc(2026, 6, 6, 9, 0));
    world.tick().await;
    world.server.set(&path, Behavior::Ok("done".into()));
    let job = world
        .store
        .get_job(&job_app(), &name.parse().expect("name"))
        .await;
    job.expect("get").expect("the job")
}

fn job_app() -> shared::model::AppName {
    shared::model::AppName::parse("testapp").expect("app")
}

/// Acceptance: the live tick's retry (attempt 2) and a backfill planned from a read taken
/// before the retry was scheduled race for the same slot; whichever order moto serves them
/// in, the slot's attempt 2 is called exactly once, and a backfill that lost says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_retry_racing_a_backfill_for_one_slot_calls_it_once() {
    let world = World::new(utc(2026, 6, 6, 8, 55)).await;
    let stale = SlotPlan {
        slot: utc(2026, 6, 6, 9, 0),
        attempts: 1,
        latest: Some(Status::Failed),
        verdict: Verdict::Call { attempt: 2 },
    };
    for round in 0..4 {
        let name = format!("race{round}");
        world.set(utc(2026, 6, 6, 8, 55));
        let job = failed_at_nine(&world, &name).await;
        assert!(
            job.state.retry.is_some(),
            "the live schedule retries: {job:?}"
        );
        let clock = Arc::new(FixedClock::new(utc(2026, 6, 6, 9, 1)));
        let other = world.other_store().await;
        let (live, backfilled) = tokio::join!(
            tick(
                &world.store,
                &world.dispatcher,
                clock.as_ref(),
                &world.config
            ),
            call_slots(
                &other,
                &world.dispatcher,
                clock.as_ref(),
                &world.config,
                &job,
                std::slice::from_ref(&stale),
            ),
        );
        live.expect("tick");
        let backfilled = backfilled.expect("backfill");
        assert_eq!(
            attempts(&world, &format!("/{name}"), 2),
            1,
            "round {round}: attempt 2 called once ({backfilled:?})"
        );
        match &backfilled[..] {
            [(_, Called::Ran(e))] => assert!(e.backfill, "{e:?}"),
            [(_, Called::Taken)] => {}
            other => panic!("round {round}: {other:?}"),
        }
        // Either way the live schedule has moved past the slot: no retry of it is left.
        let after = world
            .store
            .get_job(&job.app, &job.name)
            .await
            .expect("get")
            .expect("job");
        assert!(
            after.state.retry.is_none(),
            "round {round}: no retry left: {:?}",
            after.state
        );
        // Nothing more is called for that slot later.
        world.set(utc(2026, 6, 6, 9, 5));
        world.tick().await;
        assert_eq!(attempts(&world, &format!("/{name}"), 2), 1, "round {round}");
        assert_eq!(attempts(&world, &format!("/{name}"), 3), 0, "round {round}");
    }
}

/// Claims attempt 2 of `job`'s 09:00 slot as a backfill would, and stops there (a backfill
/// that died before sending): the claim's job write and the execution, nothing else.
async fn claim_and_die(world: &World, job: &Job) -> Execution {
    let first = ExecutionId::new(job.id.clone(), utc(2026, 6, 6, 9, 0), Trigger::Schedule, 1);
    let mut execution = world
        .store
        .get_execution(&first)
        .await
        .expect("read")
        .expect("attempt 1");
    let now = world.now();
    execution.id = ExecutionId::new(job.id.clone(), utc(2026, 6, 6, 9, 0), Trigger::Schedule, 2);
    execution.attempt = 2;
    execution.status = Status::Pending;
    execution.backfill = true;
    execution.tracked = false;
    execution.http_status = None;
    execution.output = None;
    execution.error = None;
    execution.started_at = None;
    execution.finished_at = None;
    execution.duration_ms = None;
    execution.key_hash = None;
    execution.dispatched_by = None;
    execution.outcome_by = None;
    execution.claimed_by = Some("dying-backfill".to_owned());
    execution.created_at = now;
    execution.due_at = Some(now + Duration::seconds(60));
    let mut next = job.clone();
    next.state.version = job.state.version + 1;
    next.state.writer = Some("dying-backfill".to_owned());
    let claim = Claim {
        job: next,
        expected_version: job.state.version,
        execution: execution.clone(),
        token: "dying-backfill".to_owned(),
    };
    assert_eq!(
        world.store.claim(&claim).await.expect("claim"),
        ClaimOutcome::Won
    );
    execution
}

/// A backfilled claim never sent is sent by a later tick (found through the due index), and
/// neither that call nor its outcome becomes the job's last run or schedules a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfilled_claim_left_unsent_is_sent_by_a_later_tick_without_touching_the_job() {
    let world = World::new(utc(2026, 6, 6, 8, 55)).await;
    let job = failed_at_nine(&world, "orphan").await;
    // The backfill takes attempt 2 before the live retry (due at 09:00:30) and dies; the
    // later tick both finds the live retry's attempt taken and sends the backfill's claim.
    world.set(utc(2026, 6, 6, 9, 0) + Duration::seconds(10));
    let execution = claim_and_die(&world, &job).await;
    let before = world
        .store
        .get_job(&job.app, &job.name)
        .await
        .expect("get")
        .expect("job");
    world.set(utc(2026, 6, 6, 9, 3));
    world.tick().await;
    assert_eq!(
        attempts(&world, "/orphan", 2),
        1,
        "sent once by the later tick"
    );
    let sent = world
        .store
        .get_execution(&execution.id)
        .await
        .expect("read")
        .expect("the backfilled execution");
    assert_eq!((sent.status, sent.backfill), (Status::Succeeded, true));
    let after = world
        .store
        .get_job(&job.app, &job.name)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(
        after.state.last, before.state.last,
        "the backfilled call is not the job's last run"
    );
    assert!(after.state.inflight.is_empty(), "{:?}", after.state);
    world.set(utc(2026, 6, 6, 9, 5));
    world.tick().await;
    assert_eq!(attempts(&world, "/orphan", 2), 1, "called once in all");
    assert_eq!(attempts(&world, "/orphan", 3), 0);
}

/// A backfilled call sent whose outcome was never recorded is reconciled `timed_out` by a
/// later tick, and no retry is scheduled for it whatever retries the job allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfilled_call_without_an_outcome_is_reconciled_without_a_retry() {
    let world = World::new(utc(2026, 6, 6, 8, 55)).await;
    let job = failed_at_nine(&world, "hung").await;
    world.set(utc(2026, 6, 6, 9, 0) + Duration::seconds(10));
    let execution = claim_and_die(&world, &job).await;
    let now = world.now();
    assert!(
        world
            .store
            .mark_dispatched(
                &execution.id,
                "dying-backfill",
                "hash",
                now,
                now + Duration::seconds(40)
            )
            .await
            .expect("mark")
    );
    let before = world
        .store
        .get_job(&job.app, &job.name)
        .await
        .expect("get")
        .expect("job");
    world.set(utc(2026, 6, 6, 9, 3));
    world.tick().await;
    let reconciled = world
        .store
        .get_execution(&execution.id)
        .await
        .expect("read")
        .expect("the backfilled execution");
    assert_eq!(reconciled.status, Status::TimedOut, "{reconciled:?}");
    let after = world
        .store
        .get_job(&job.app, &job.name)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(after.state.last, before.state.last);
    assert!(
        after
            .state
            .retry
            .as_ref()
            .is_none_or(|r| r.slot != utc(2026, 6, 6, 9, 0) || r.attempt != 3),
        "no retry of the backfilled call: {:?}",
        after.state
    );
    world.set(utc(2026, 6, 6, 9, 8));
    world.tick().await;
    assert_eq!(attempts(&world, "/hung", 3), 0);
}
