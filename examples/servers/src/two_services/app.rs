//! Two services in one process: a public gateway that reads the request id, the tenant and the
//! user from headers and continues its client's trace, and a backend it calls, which learns the
//! request id and the tenant from the request's W3C baggage (never the user) and its parent
//! span from `traceparent`. The gateway's `GET /call` does its work the ways real handlers do:
//! a blocking pool, rayon, a task spawned as a library would, a job queue. Shared by the example
//! and `tests/two_services.rs`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Path, State};
use axum::http::{Extensions, HeaderName, HeaderValue, StatusCode};
use axum::routing::get;
use contextvars::baggage::Accept;
use contextvars::tokio::ContextExecutor;
use contextvars::{Context, module_vars};
use contextvars_opentelemetry::BaggagePropagator;
use contextvars_rayon::ParallelIteratorExt;
use contextvars_tower::propagate::Propagate;
use contextvars_tower::{ContextLayer, PropagateLayer, RequestSpanLayer};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use rayon::prelude::*;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, oneshot};
use tower::{Layer, ServiceBuilder, ServiceExt};
use tracing::Level;

use crate::http_client::{HttpClient, fetch};

/// What both services know about the request being handled.
pub mod request {
    use contextvars::context_var;

    /// The request's `x-request-id` at the gateway, or a generated one; travels as baggage.
    #[context_var(default = String::new(), propagate = "request_id")]
    pub static REQUEST_ID: String;

    /// The request's `x-tenant` at the gateway, or `none`; travels as baggage.
    #[context_var(default = String::from("none"), propagate = "tenant")]
    pub static TENANT: String;

    /// The request's `x-user-id` at the gateway, or `anonymous`; never leaves the gateway.
    #[context_var(default = String::from("anonymous"))]
    pub static USER_ID: String;
}

use request::{REQUEST_ID, TENANT, USER_ID};

/// The gateway's spans and log lines have this target, so `RUST_LOG=gateway=info` keeps them.
const GATEWAY: &str = "gateway";
/// The backend's.
const BACKEND: &str = "backend";

/// `traceparent` and `tracestate`, then the propagated variables as baggage, believing the
/// keys of `accept`: the one propagator configuration of a service.
fn propagator(accept: Accept) -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new().accept_baggage(accept)),
    ])
}

fn matched_route(extensions: &Extensions) -> Option<&str> {
    extensions.get::<MatchedPath>().map(MatchedPath::as_str)
}

/// The gateway's client to the backend: every request it sends carries the trace context of a
/// client span and the propagated variables of the request being handled.
#[derive(Clone)]
struct Gateway {
    backend: SocketAddr,
    client: Propagate<HttpClient>,
    jobs: mpsc::Sender<Job>,
}

fn header_str(value: Option<&HeaderValue>) -> Option<String> {
    value
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn generate_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("gen-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The gateway: each request in its own context, its variables from its headers only (it
/// faces the public internet, so it takes nothing from the client's baggage, but continues
/// its `traceparent`); `GET /call` calls the backend and fans out, `GET /stream/{n}` streams.
pub fn gateway(backend: SocketAddr) -> Router {
    let context = ContextLayer::new()
        .reset(&module_vars!(request))
        .propagator(propagator(Accept::none()))
        .header_var(&REQUEST_ID, HeaderName::from_static("x-request-id"), |v| {
            header_str(v).unwrap_or_else(generate_request_id)
        })
        .header_var(&TENANT, HeaderName::from_static("x-tenant"), header_str)
        .header_var(&USER_ID, HeaderName::from_static("x-user-id"), header_str);
    let client = PropagateLayer::new()
        .propagator(propagator(Accept::none()))
        .client_span("whoami", GATEWAY, Level::INFO)
        .layer(
            // Its connection tasks outlive the request that opens them: they start from the
            // context the gateway was built in, never from that request's (nor keep its span).
            Client::builder(ContextExecutor::new())
                .pool_max_idle_per_host(4096)
                .build_http(),
        );
    Router::new()
        .route("/call", get(call))
        .route("/stream/{n}", get(stream))
        .with_state(Gateway {
            backend,
            client,
            jobs: job_queue(),
        })
        .layer(
            ServiceBuilder::new()
                .layer(context)
                .layer(RequestSpanLayer::new().target(GATEWAY).route(matched_route)),
        )
}

/// What each step of `/call` saw as the request id; the answer is the backend's only when
/// every step saw the request's own.
async fn call(State(gateway): State<Gateway>) -> Result<String, (StatusCode, String)> {
    let bad_gateway = |err: &dyn std::fmt::Display| (StatusCode::BAD_GATEWAY, err.to_string());
    let request = hyper::Request::get(format!("http://{}/whoami", gateway.backend))
        .body(Empty::new())
        .map_err(|err| bad_gateway(&err))?;
    let response = gateway
        .client
        .oneshot(request)
        .await
        .map_err(|err| bad_gateway(&err))?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|err| bad_gateway(&err))?
        .to_bytes();
    let answer = String::from_utf8(body.to_vec()).map_err(|err| bad_gateway(&err))?;

    let mut seen = vec![blocking_step().await, spawned_step().await];
    seen.extend(rayon_step());
    seen.push(job_step(&gateway.jobs).await);
    let own = REQUEST_ID.get();
    match seen.iter().find(|id| **id != own) {
        None => Ok(answer),
        Some(other) => Ok(format!(r#"{{"crosstalk":"{own} saw {other}"}}"#)),
    }
}

/// Work on tokio's blocking pool, as a handler does with a synchronous library.
async fn blocking_step() -> String {
    let work = || {
        tracing::info_span!(target: GATEWAY, "blocking").in_scope(|| {
            tracing::info!(target: GATEWAY, "blocking work");
            REQUEST_ID.get()
        })
    };
    contextvars::spawn_blocking(work)
        .await
        .unwrap_or_else(|err| err.to_string())
}

/// Four items on rayon's pool.
fn rayon_step() -> Vec<String> {
    (0..4)
        .into_par_iter()
        .with_current_context()
        .map(|item| {
            tracing::info_span!(target: GATEWAY, "rayon_item", item).in_scope(|| {
                tracing::info!(target: GATEWAY, item, "rayon item");
                REQUEST_ID.get()
            })
        })
        .collect()
}

/// A task spawned the way a third-party library spawns: `tokio::spawn` itself, which carries
/// the request's context only on a runtime built with `inherit_on_spawn` (`--cfg
/// tokio_unstable`); without the hooks, the example spawns through `contextvars::spawn`.
async fn spawned_step() -> String {
    let task = async {
        tokio::task::yield_now().await;
        tracing::info_span!(target: GATEWAY, "spawned").in_scope(|| {
            tracing::info!(target: GATEWAY, "spawned task");
            REQUEST_ID.get()
        })
    };
    #[cfg(tokio_unstable)]
    let handle = tokio::spawn(task);
    #[cfg(not(tokio_unstable))]
    let handle = contextvars::spawn(task);
    handle.await.unwrap_or_else(|err| err.to_string())
}

/// A job for the in-process queue: the context it was submitted in, and where to answer.
struct Job {
    context: Context,
    done: oneshot::Sender<String>,
}

/// Hands a job to the queue's worker and awaits it.
async fn job_step(jobs: &mpsc::Sender<Job>) -> String {
    let (done, answer) = oneshot::channel();
    let job = Job {
        context: Context::inherited(),
        done,
    };
    if jobs.send(job).await.is_err() {
        return "the job queue is closed".to_owned();
    }
    answer
        .await
        .unwrap_or_else(|_| "the job was dropped".to_owned())
}

/// The queue: one worker task, started on first use, running each job in the context it was
/// submitted in.
fn job_queue() -> mpsc::Sender<Job> {
    let (sender, mut receiver) = mpsc::channel::<Job>(1024);
    tokio::spawn(async move {
        while let Some(Job { mut context, done }) = receiver.recv().await {
            let seen = context.run(|| {
                tracing::info_span!(target: GATEWAY, "job").in_scope(|| {
                    tracing::info!(target: GATEWAY, "job ran");
                    REQUEST_ID.get()
                })
            });
            let _ = done.send(seen);
        }
    });
    sender
}

/// `n` lines `request_id=…`, each made in a span `chunk` when the server polls for it.
async fn stream(Path(n): Path<u32>) -> Body {
    let chunks = futures::stream::unfold(0, move |i| async move {
        if i == n {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        let line = tracing::info_span!(target: GATEWAY, "chunk", i).in_scope(|| {
            tracing::info!(target: GATEWAY, i, "chunk");
            format!("request_id={}\n", REQUEST_ID.get())
        });
        Some((Ok::<_, Infallible>(line), i + 1))
    });
    Body::from_stream(chunks)
}

/// The backend: each request in its own context, the request id and the tenant from the
/// baggage its gateway sends, nothing else, its server span a child of the gateway's client
/// span; `GET /whoami` answers what it sees as JSON.
pub fn backend() -> Router {
    let context = ContextLayer::new()
        .reset(&module_vars!(request))
        .propagator(propagator(Accept::none().var(&REQUEST_ID).var(&TENANT)));
    Router::new().route("/whoami", get(whoami)).layer(
        ServiceBuilder::new()
            .layer(context)
            .layer(RequestSpanLayer::new().target(BACKEND).route(matched_route)),
    )
}

async fn whoami() -> String {
    tracing::info!(target: BACKEND, "whoami");
    serde_json::json!({
        "request_id": REQUEST_ID.get(),
        "tenant": TENANT.get(),
        "user_id": USER_ID.get(),
    })
    .to_string()
}

/// The runtime both services run on: with `--cfg tokio_unstable`, every task it spawns starts
/// in a copy of its spawner's context (`inherit_on_spawn`).
pub fn runtime() -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    #[cfg(tokio_unstable)]
    contextvars::tokio::inherit_on_spawn(&mut builder);
    builder.build().expect("build the tokio runtime")
}

/// A loopback listener on any free port, with room for many simultaneous connects.
///
/// # Errors
/// When the socket cannot be made, bound or listened on.
pub fn bind() -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    socket.listen(4096)
}

/// Both services, serving on loopback until `shutdown` resolves: the gateway's and the
/// backend's addresses, and the task that ends when both have finished their requests.
///
/// # Errors
/// When a listener cannot be bound.
pub fn start(
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, SocketAddr, tokio::task::JoinHandle<()>)> {
    let (gateway_listener, backend_listener) = (bind()?, bind()?);
    let backend_addr = backend_listener.local_addr()?;
    let gateway_addr = gateway_listener.local_addr()?;
    let (stop_backend, backend_stopped) = oneshot::channel::<()>();
    let backend = tokio::spawn(async move {
        axum::serve(backend_listener, backend())
            .with_graceful_shutdown(async {
                let _ = backend_stopped.await;
            })
            .await
    });
    let gateway = gateway(backend_addr);
    let served = tokio::spawn(async move {
        let _ = axum::serve(gateway_listener, gateway)
            .with_graceful_shutdown(shutdown)
            .await;
        // The backend stops after the gateway, whose requests call it.
        let _ = stop_backend.send(());
        let _ = backend.await;
    });
    Ok((gateway_addr, backend_addr, served))
}

/// What a load run found.
#[derive(Debug, Default)]
pub struct Tally {
    /// Requests that failed (connection error, non-2xx status).
    pub errors: usize,
    /// Answers that were not exactly the request's own values with the default user id.
    pub crosstalk: usize,
    /// The first answer, to show.
    pub first: Option<String>,
}

/// The backend's answer that request `n` of [`load`] must get.
pub fn expected_answer(n: usize) -> serde_json::Value {
    serde_json::json!({
        "request_id": format!("req-{n}"),
        "tenant": format!("tenant-{}", n % 7),
        "user_id": "anonymous",
    })
}

/// The `traceparent` request `n` of [`load`] sends, if any (every odd one): its trace id and
/// parent span id.
pub fn client_trace(n: usize) -> Option<(String, String)> {
    (n % 2 == 1).then(|| (format!("{:032x}", n + 1), format!("{:016x}", n + 1)))
}

/// Sends `requests` requests to the gateway's `GET /call` with at most `concurrency` in
/// flight, request `n` with `x-request-id: req-n`, `x-tenant: tenant-(n % 7)`,
/// `x-user-id: user-n`, a forged `baggage: tenant=forged,USER_ID=root` and, every odd one, a
/// `traceparent` of [`client_trace`]; checks every answer against [`expected_answer`].
pub async fn load(gateway: SocketAddr, requests: usize, concurrency: usize) -> Tally {
    let answers = crate::http_client::load(requests, concurrency, move |client, n| async move {
        call_gateway(&client, gateway, n).await
    })
    .await;
    let mut tally = Tally::default();
    for (n, answer) in answers {
        match answer {
            Ok(body) => {
                let parsed: Option<serde_json::Value> = serde_json::from_str(&body).ok();
                if parsed != Some(expected_answer(n)) {
                    tally.crosstalk += 1;
                }
                if n == 0 {
                    tally.first = Some(body);
                }
            }
            Err(_) => tally.errors += 1,
        }
    }
    tally
}

async fn call_gateway(
    client: &HttpClient,
    gateway: SocketAddr,
    n: usize,
) -> Result<String, String> {
    let mut request = hyper::Request::get(format!("http://{gateway}/call"))
        .header("x-request-id", format!("req-{n}"))
        .header("x-tenant", format!("tenant-{}", n % 7))
        .header("x-user-id", format!("user-{n}"))
        .header("baggage", "tenant=forged,USER_ID=root");
    if let Some((trace_id, span_id)) = client_trace(n) {
        request = request.header("traceparent", format!("00-{trace_id}-{span_id}-01"));
    }
    fetch(client, request).await
}

/// The spans one `GET /call` makes, by name: the gateway's server span (`GET /call`), its
/// client span, the backend's server span, and one per step.
pub const CALL_SPANS: &[(&str, usize)] = &[
    ("GET /call", 1),
    ("GET", 1),
    ("GET /whoami", 1),
    ("blocking", 1),
    ("rayon_item", 4),
    ("spawned", 1),
    ("job", 1),
];

/// The trace check of a [`load`] of `requests` requests over `spans` (one JSON object per
/// finished span, as `--spans` writes them).
pub fn check_load_traces(
    spans: &[serde_json::Value],
    requests: usize,
) -> super::telemetry::TraceTally {
    super::telemetry::check_traces(
        spans,
        (0..requests).map(|n| super::telemetry::Expected {
            request_id: format!("req-{n}"),
            spans: CALL_SPANS,
            continued: client_trace(n),
        }),
    )
}
