//! A fault-injecting HTTP proxy to put between an AWS SDK DynamoDB client and moto.
//!
//! Point the client's endpoint at [`FaultProxy::url`]. Each request is forwarded to the
//! upstream server and its answer returned, unless a [`Fault`] applies to it:
//!
//! - [`Fault::Throttle`]: not forwarded; answered 400 `ThrottlingException` (the SDK retries).
//! - [`Fault::ServerError`]: not forwarded; answered 500 `InternalServerError`.
//! - [`Fault::DropAnswer`]: forwarded (so a write is applied upstream), the upstream's whole
//!   answer read, then the client connection closed without a single byte of response. The SDK
//!   sees the connection close before any answer (hyper's `IncompleteMessage`), classifies it
//!   as transient and retries.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// A fault the proxy injects into one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Not forwarded; answered 400 `ThrottlingException`.
    Throttle,
    /// Not forwarded; answered 500 `InternalServerError`.
    ServerError,
    /// Forwarded, then the connection closed without a byte of the answer.
    DropAnswer,
}

/// What the proxy has seen and done since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Every request received.
    pub requests: u64,
    /// Requests sent upstream: passed through, plus those whose answer was then dropped.
    pub forwarded: u64,
    /// Requests answered `ThrottlingException` ([`Fault::Throttle`]).
    pub throttled: u64,
    /// Requests answered `InternalServerError` ([`Fault::ServerError`]).
    pub server_errors: u64,
    /// Requests forwarded upstream whose answer was not passed on (included in `forwarded`).
    pub dropped_answers: u64,
    /// Requests the upstream could not be asked (answered 502).
    pub upstream_errors: u64,
    /// Every request received, by operation: the part of `X-Amz-Target` after the dot
    /// (`TransactWriteItems`), or `-` when the header is missing.
    pub by_operation: BTreeMap<String, u64>,
    /// Every fault injected, in order, with the operation it hit.
    pub faults: Vec<(String, Fault)>,
}

impl ProxyStats {
    /// Requests received for `operation` (`"PutItem"`).
    pub fn operation(&self, operation: &str) -> u64 {
        self.by_operation.get(operation).copied().unwrap_or(0)
    }
}

enum Mode {
    PassThrough,
    Plan {
        /// `Some(op)`: the plan applies only to requests for that operation.
        only: Option<String>,
        steps: VecDeque<Option<Fault>>,
    },
    Random {
        rng: Box<StdRng>,
        throttle: f64,
        server_error: f64,
        drop_answer: f64,
    },
}

impl Mode {
    fn next(&mut self, operation: &str) -> Option<Fault> {
        match self {
            Mode::PassThrough => None,
            Mode::Plan { only, steps } => {
                if only.as_deref().is_some_and(|only| only != operation) {
                    return None;
                }
                steps.pop_front().flatten()
            }
            Mode::Random {
                rng,
                throttle,
                server_error,
                drop_answer,
            } => {
                let draw: f64 = rng.random();
                if draw < *throttle {
                    Some(Fault::Throttle)
                } else if draw < *throttle + *server_error {
                    Some(Fault::ServerError)
                } else if draw < *throttle + *server_error + *drop_answer {
                    Some(Fault::DropAnswer)
                } else {
                    None
                }
            }
        }
    }
}

struct State {
    mode: Mode,
    stats: ProxyStats,
}

struct Inner {
    upstream: String,
    client: reqwest::Client,
    state: Mutex<State>,
}

impl Inner {
    fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state)
    }
}

/// The proxy. Dropping it stops it and closes every connection it has open.
pub struct FaultProxy {
    addr: SocketAddr,
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

/// The error a service returns to make hyper abort the connection without answering.
#[derive(Debug)]
struct AnswerDropped;

impl std::fmt::Display for AnswerDropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("answer dropped by the fault proxy")
    }
}

impl std::error::Error for AnswerDropped {}

impl FaultProxy {
    /// Starts a proxy on a free port of 127.0.0.1 forwarding to `upstream`
    /// (`http://127.0.0.1:PORT`), passing everything through until told otherwise.
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy to 127.0.0.1:0");
        let addr = listener.local_addr().expect("fault proxy address");
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("build the fault proxy's upstream client");
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client,
            state: Mutex::new(State {
                mode: Mode::PassThrough,
                stats: ProxyStats::default(),
            }),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&inner)));
        FaultProxy { addr, inner, task }
    }

    /// `http://127.0.0.1:PORT`: the endpoint to give the SDK client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The loopback address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A deterministic sequence, consulted request by request (`None` passes the request
    /// through). Once the plan has run out, everything passes through.
    pub fn set_plan(&self, plan: Vec<Option<Fault>>) {
        self.set_mode(Mode::Plan {
            only: None,
            steps: plan.into(),
        });
    }

    /// Like [`set_plan`](Self::set_plan), but consulted only by requests for `operation`
    /// (`"PutItem"`); requests for other operations pass through and use up no step.
    pub fn set_plan_for(&self, operation: &str, plan: Vec<Option<Fault>>) {
        self.set_mode(Mode::Plan {
            only: Some(operation.to_owned()),
            steps: plan.into(),
        });
    }

    /// Each request gets a fault with the given probabilities, drawn from an RNG seeded with
    /// `seed` (the same seed and the same requests in the same order give the same faults).
    pub fn set_random(&self, seed: u64, throttle: f64, server_error: f64, drop_answer: f64) {
        self.set_mode(Mode::Random {
            rng: Box::new(StdRng::seed_from_u64(seed)),
            throttle,
            server_error,
            drop_answer,
        });
    }

    /// Passes everything through from now on.
    pub fn clear(&self) {
        self.set_mode(Mode::PassThrough);
    }

    /// What the proxy has seen and done so far (a copy).
    pub fn stats(&self) -> ProxyStats {
        self.inner.update(|state| state.stats.clone())
    }

    fn set_mode(&self, mode: Mode) {
        self.inner.update(|state| state.mode = mode);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection task.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let inner = Arc::clone(&inner);
                connections.spawn(async move {
                    let service = service_fn(move |request| proxy(Arc::clone(&inner), request));
                    // An `AnswerDropped` error ends up here: hyper has closed the connection.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn proxy(
    inner: Arc<Inner>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, AnswerDropped> {
    let operation = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(|target| target.rsplit('.').next().unwrap_or(target).to_owned())
        .unwrap_or_else(|| "-".to_owned());
    let fault = inner.update(|state| {
        let fault = state.mode.next(&operation);
        let stats = &mut state.stats;
        stats.requests += 1;
        *stats.by_operation.entry(operation.clone()).or_default() += 1;
        match fault {
            Some(Fault::Throttle) => stats.throttled += 1,
            Some(Fault::ServerError) => stats.server_errors += 1,
            Some(Fault::DropAnswer) | None => {}
        }
        if let Some(fault) = fault {
            stats.faults.push((operation.clone(), fault));
        }
        fault
    });

    let (parts, body) = request.into_parts();
    // Read the whole request first, whatever happens to it, as a real server would.
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Err(AnswerDropped),
    };

    match fault {
        Some(Fault::Throttle) => {
            return Ok(amz_json_error(
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                "Rate of requests exceeds the allowed throughput.",
            ));
        }
        Some(Fault::ServerError) => {
            return Ok(amz_json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "injected",
            ));
        }
        Some(Fault::DropAnswer) | None => {}
    }

    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    let upstream = inner
        .client
        .request(parts.method, format!("{}{path}", inner.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let answer = match upstream {
        Ok(answer) => {
            let status = answer.status();
            let mut headers = answer.headers().clone();
            match answer.bytes().await {
                Ok(body) => {
                    strip_hop_by_hop(&mut headers);
                    Ok((status, headers, body))
                }
                Err(err) => Err(err),
            }
        }
        Err(err) => Err(err),
    };
    let (status, headers, body) = match answer {
        Ok(answer) => answer,
        Err(err) => {
            inner.update(|state| state.stats.upstream_errors += 1);
            let mut response = Response::new(Full::new(Bytes::from(format!(
                "fault proxy: upstream failed: {err}"
            ))));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            return Ok(response);
        }
    };
    inner.update(|state| {
        state.stats.forwarded += 1;
        if fault == Some(Fault::DropAnswer) {
            state.stats.dropped_answers += 1;
        }
    });
    if fault == Some(Fault::DropAnswer) {
        // Makes hyper close the connection without writing any of the answer.
        return Err(AnswerDropped);
    }
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

fn amz_json_error(status: StatusCode, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{error_type}"),
        "message": message,
    });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response
        .headers_mut()
        .insert("x-amzn-requestid", HeaderValue::from_static("fault-proxy"));
    response
}

/// Removes the headers that describe one connection or one message's framing; the next hop
/// sets its own.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in [
        header::CONNECTION,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}
