//! A real HTTP job server on 127.0.0.1 that records every request and answers each path with
//! a configurable [`Behavior`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::{Notify, oneshot};

/// One request as the job server received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string without its `?`, if there was one.
    pub query: Option<String>,
    /// Every header as sent.
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// When the server received the request (its head, before the body).
    pub received_at: SystemTime,
}

impl Recorded {
    /// The value of header `name` if it is present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How the job server answers requests to one path.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// That status, with body `status N`.
    Status(u16),
    /// 200 with that body.
    Ok(String),
    /// Waits that long (without holding up other requests), then 200 `ok`.
    Sleep(Duration),
    /// 200 with a body of that many bytes, streamed in chunks.
    Big(usize),
    /// 302 with that `Location`.
    Redirect(String),
}

#[derive(Default)]
struct Shared {
    behaviors: Mutex<HashMap<String, Behavior>>,
    requests: Mutex<Vec<Recorded>>,
    arrived: Notify,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: Mutex<(usize, usize)>,
    /// The same, per first path segment (`/billing/x` counts under `billing`).
    in_flight_by_prefix: Mutex<HashMap<String, (usize, usize)>>,
}

/// Counts a request in flight until it is answered (or its connection dropped).
struct InFlight(Arc<Shared>, String);

impl InFlight {
    fn start(shared: &Arc<Shared>, path: &str) -> InFlight {
        let mut n = lock(&shared.in_flight);
        n.0 += 1;
        n.1 = n.1.max(n.0);
        let prefix = first_segment(path);
        let mut by_prefix = lock(&shared.in_flight_by_prefix);
        let n = by_prefix.entry(prefix.clone()).or_default();
        n.0 += 1;
        n.1 = n.1.max(n.0);
        InFlight(Arc::clone(shared), prefix)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.0.in_flight).0 -= 1;
        if let Some(n) = lock(&self.0.in_flight_by_prefix).get_mut(&self.1) {
            n.0 -= 1;
        }
    }
}

/// `billing` of `/billing/invoices`.
fn first_segment(path: &str) -> String {
    path.trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The job server. Dropping it shuts it down: it stops accepting, closes idle connections and
/// closes the others once their answer is sent.
pub struct JobServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl JobServer {
    /// Starts a job server on a free port of 127.0.0.1. Every path answers 200 `ok` until
    /// [`set`](Self::set) says otherwise.
    pub async fn start() -> JobServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the job server to 127.0.0.1:0");
        let addr = listener.local_addr().expect("job server address");
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        JobServer {
            addr,
            shared,
            shutdown: Some(shutdown),
        }
    }

    /// The loopback address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers requests to `path` (the path alone, without the query) with `behavior` from now on.
    pub fn set(&self, path: &str, behavior: Behavior) {
        lock(&self.shared.behaviors).insert(path.to_owned(), behavior);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// The requests received so far for `path`, in arrival order.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The most requests (to any path) the server was answering at once so far.
    pub fn max_in_flight(&self) -> usize {
        lock(&self.shared.in_flight).1
    }

    /// The most requests under `/<prefix>/` the server was answering at once so far.
    pub fn max_in_flight_under(&self, prefix: &str) -> usize {
        lock(&self.shared.in_flight_by_prefix)
            .get(prefix)
            .map_or(0, |n| n.1)
    }

    /// How many requests `path` has received so far.
    pub fn count(&self, path: &str) -> usize {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// Waits until `path` has received at least `n` requests, or `timeout` has passed; returns
    /// the requests to `path` received by then.
    pub async fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let seen = self.requests_to(path);
            if seen.len() >= n {
                return seen;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.requests_to(path);
            }
        }
    }
}

impl Drop for JobServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let received_at = SystemTime::now();
    let _in_flight = InFlight::start(&shared, request.uri().path());
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(err) => {
            return (StatusCode::BAD_REQUEST, format!("unreadable body: {err}")).into_response();
        }
    };
    let path = parts.uri.path().to_owned();
    lock(&shared.requests).push(Recorded {
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
        received_at,
    });
    shared.arrived.notify_waiters();

    let behavior = lock(&shared.behaviors).get(&path).cloned();
    match behavior {
        None => (StatusCode::OK, "ok").into_response(),
        Some(Behavior::Status(code)) => {
            let status = StatusCode::from_u16(code).expect("a valid HTTP status code");
            (status, format!("status {code}")).into_response()
        }
        Some(Behavior::Ok(body)) => (StatusCode::OK, body).into_response(),
        Some(Behavior::Sleep(duration)) => {
            tokio::time::sleep(duration).await;
            (StatusCode::OK, "ok").into_response()
        }
        Some(Behavior::Big(len)) => {
            (StatusCode::OK, Body::from_stream(big_body(len))).into_response()
        }
        Some(Behavior::Redirect(location)) => {
            (StatusCode::FOUND, [(header::LOCATION, location)], "").into_response()
        }
    }
}

/// `len` bytes of `x`, in chunks of at most 64 KiB.
fn big_body(len: usize) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    const CHUNK: usize = 64 * 1024;
    let chunk = Bytes::from(vec![b'x'; CHUNK.min(len)]);
    let sizes = (0..len.div_ceil(CHUNK)).map(move |i| CHUNK.min(len - i * CHUNK));
    futures::stream::iter(sizes.map(move |size| Ok(chunk.slice(..size))))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A test that panicked while holding the lock must not hide the other tests' results.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
