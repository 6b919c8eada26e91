//! Apps as records (issue 16), as the tick uses them against the moto server and real job
//! servers: jobs by path called at their app's current base URL, and each app's call budget.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::model::{App, AppName, BaseUrl, JobPath, NewJob};
use shared::protocol::HEADER_SCHEDULED_FOR;
use shared::store::Store;

use crate::helpers::jobserver::{Behavior, JobServer};
use crate::world::{World, utc};

fn app(name: &str, base: &str, budget: u32, now: DateTime<Utc>) -> App {
    App::new(
        AppName::parse(name).expect("app"),
        BaseUrl::parse(base).expect("base url"),
        budget,
        now,
    )
    .expect("app record")
}

/// A job of `app` by `path`, every minute; its `url` a stale display URL never to be called.
fn by_path(world: &World, app: &str, name: &str, path: &str) -> NewJob {
    let mut spec = world.spec(name, "/stale-url-never-called", "* * * * *");
    spec.app = AppName::parse(app).expect("app");
    spec.path = Some(JobPath::parse(path).expect("path"));
    spec
}

fn slots(server: &JobServer, path: &str) -> Vec<String> {
    server
        .requests_to(path)
        .iter()
        .map(|r| r.header(HEADER_SCHEDULED_FOR).unwrap_or("?").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_apps_budget_bounds_its_calls_in_flight_while_another_apps_calls_go_out() {
    let at = utc(2026, 7, 1, 9, 0);
    let mut world = World::new(at - chrono::Duration::seconds(30)).await;
    world.config.concurrency = 8;
    let server_b = JobServer::start().await;
    let now = world.now();
    world
        .store
        .create_app(&app("a", &world.server.url(""), 4, now))
        .await
        .expect("app a");
    world
        .store
        .create_app(&app("b", &server_b.url(""), 4, now))
        .await
        .expect("app b");
    for i in 0..40 {
        let path = format!("/a{i:02}");
        world
            .server
            .set(&path, Behavior::Sleep(Duration::from_millis(600)));
        world
            .create(by_path(&world, "a", &format!("a{i:02}"), &path))
            .await;
    }
    for i in 0..4 {
        world
            .create(by_path(&world, "b", &format!("b{i}"), &format!("/b{i}")))
            .await;
    }

    world.set(at);
    let summary = world.tick().await;
    assert_eq!(
        (summary.due, summary.triggered, summary.succeeded),
        (44, 44, 44)
    );
    for i in 0..40 {
        assert_eq!(world.server.count(&format!("/a{i:02}")), 1, "a{i:02} once");
    }
    for i in 0..4 {
        assert_eq!(server_b.count(&format!("/b{i}")), 1, "b{i} once");
    }
    assert_eq!(world.server.count("/stale-url-never-called"), 0);
    assert_eq!(
        world.server.max_in_flight(),
        4,
        "A's budget: at most 4 of its calls in flight"
    );
    // A's fifth call starts only once one of its first four has ended (600 ms): B's calls,
    // in the tick's other free slots, went out before it.
    let mut a_arrivals: Vec<_> = world
        .server
        .requests()
        .iter()
        .map(|r| r.received_at)
        .collect();
    a_arrivals.sort();
    let fifth_a = a_arrivals[4];
    for r in server_b.requests() {
        assert!(
            r.received_at < fifth_a,
            "B's call to {} waited for A's calls",
            r.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moving_an_apps_base_url_sends_its_next_slot_to_the_new_server_once() {
    let at = utc(2026, 7, 2, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    let server_b = JobServer::start().await;
    let server_c = JobServer::start().await;
    let now = world.now();
    let a = app("a", &world.server.url("/pre"), 4, now);
    world.store.create_app(&a).await.expect("app a");
    world
        .store
        .create_app(&app("b", &server_b.url(""), 4, now))
        .await
        .expect("app b");
    world.create(by_path(&world, "a", "ja", "/ja")).await;
    world.create(by_path(&world, "b", "jb", "/jb")).await;

    world.set(at);
    let first = world.tick().await;
    assert_eq!((first.triggered, first.succeeded), (2, 2));

    let mut moved = a.clone();
    moved.base_url = BaseUrl::parse(&server_c.url("/pre")).expect("base");
    moved.version = a.version + 1;
    assert!(
        world
            .store
            .put_app(&moved, a.version)
            .await
            .expect("put_app")
    );
    let next = at + chrono::Duration::minutes(1);
    world.set(next);
    let second = world.tick().await;
    assert_eq!((second.triggered, second.succeeded), (2, 2));

    let (s0, s1) = (
        shared::protocol::format_slot(at),
        shared::protocol::format_slot(next),
    );
    assert_eq!(slots(&world.server, "/pre/ja"), std::slice::from_ref(&s0));
    assert_eq!(
        slots(&server_c, "/pre/ja"),
        std::slice::from_ref(&s1),
        "the next slot went to C"
    );
    assert_eq!(slots(&server_b, "/jb"), [s0, s1]);
    assert_eq!(world.server.count("/stale-url-never-called"), 0);
}
