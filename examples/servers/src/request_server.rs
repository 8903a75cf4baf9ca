//! The request server: an axum app whose handlers read the request id and the user from context
//! variables, the layer that gives every request its own context, the log format that writes
//! both on every line, and a client that loads the server and checks its answers.
//!
//! Shared by the `request_server` example and the tests in `tests/`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::routing::get;
use contextvars::{context_var, module_vars};
use contextvars_tower::{ContextLayer, EchoHeaderLayer};
use contextvars_tracing::ContextFields;
use tokio::net::{TcpListener, TcpSocket};
use tower::ServiceBuilder;
use tracing::info;

use crate::http_client::{HttpClient, fetch};

/// What the server knows about the request being handled, set by the layer from headers.
pub mod request {
    use contextvars::context_var;

    /// The request's `x-request-id`, or a generated one.
    #[context_var(default = String::new())]
    pub static REQUEST_ID: String;

    /// The request's `x-user-id`, or `anonymous`.
    #[context_var(default = String::from("anonymous"))]
    pub static USER_ID: String;
}

use request::{REQUEST_ID, USER_ID};

/// Set by `/remember` and never reset: what a handler leaves behind.
#[context_var(default = String::from("nobody"))]
pub static LAST_SEEN: String;

/// How long the handler sleeps at the deepest level.
const SLEEP: Duration = Duration::from_millis(1);

/// The layer: each request in a fresh copy of the server's context, the request variables reset
/// to their defaults, then set from the headers.
pub fn layer() -> ContextLayer {
    ContextLayer::new()
        .reset(&module_vars!(request))
        .header_var(&REQUEST_ID, X_REQUEST_ID, |value| {
            header_str(value).map_or_else(generate_request_id, str::to_owned)
        })
        // No header: the reset's default, `anonymous`.
        .header_var(&USER_ID, X_USER_ID, |value| {
            header_str(value).map(str::to_owned)
        })
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_USER_ID: HeaderName = HeaderName::from_static("x-user-id");

fn header_str(value: Option<&HeaderValue>) -> Option<&str> {
    value.and_then(|value| value.to_str().ok())
}

fn generate_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "gen-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The variables on log lines: every line written while a request variable is set carries it.
pub fn log_format() -> ContextFields {
    ContextFields::new().vars(&module_vars!(request))
}

/// How log lines are written: `--log-format text|json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// `INFO target: message n=1 request_id=req-1 user_id=user-1`.
    Text,
    /// One JSON object per line, the request variables as top-level keys.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<LogFormat, String> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format `{other}` (text or json)")),
        }
    }
}

/// The subscriber the server logs through, in `format`, at `level` and above, to `writer`,
/// with ANSI colours in text lines when `ansi` is set.
pub fn log_dispatch<W>(
    format: LogFormat,
    level: tracing::Level,
    writer: W,
    ansi: bool,
) -> tracing::Dispatch
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_ansi(ansi && format == LogFormat::Text)
        .with_max_level(level)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.event_format(log_format().format()).finish().into(),
        LogFormat::Json => builder
            .json()
            .event_format(log_format().json())
            .finish()
            .into(),
    }
}

/// Makes [`log_dispatch`] in `format`, at `INFO` and above, without colours, writing to
/// `writer`, the process's subscriber: how the tests read what the server logs.
///
/// # Panics
/// When the process already has a subscriber.
pub fn log_to<W>(format: LogFormat, writer: W)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let dispatch = log_dispatch(format, tracing::Level::INFO, writer, false);
    tracing::dispatcher::set_global_default(dispatch).expect("no other subscriber is set");
}

/// The app, with the context layer and the echo of the request id on every response, or with
/// neither.
pub fn router(with_layer: bool) -> Router {
    if with_layer {
        // One `Router::layer` for both: axum boxes each route once more, and clones it once more
        // per request, for every call of `Router::layer`. The first layer of a `ServiceBuilder`
        // is the outer one: the echo runs inside the request's context.
        routes().layer(
            ServiceBuilder::new()
                .layer(layer())
                .layer(EchoHeaderLayer::new(&REQUEST_ID, X_REQUEST_ID)),
        )
    } else {
        routes()
    }
}

/// The app with the context layer and without the echo: the same response headers as without
/// the layer, so that the two measure what the context layer itself costs.
pub fn router_without_echo() -> Router {
    routes().layer(layer())
}

fn routes() -> Router {
    Router::new()
        .route("/work/{n}", get(work))
        .route("/remember", get(remember))
        .route("/stream/{n}", get(stream))
}

/// Answers `request_id=... user_id=...`, read three calls deep, across a sleep and a subtask.
async fn work(Path(n): Path<u64>) -> String {
    info!(n, "request received");
    let answer = level_one(n).await;
    info!(n, "answered");
    answer
}

async fn level_one(n: u64) -> String {
    level_two(n).await
}

async fn level_two(n: u64) -> String {
    level_three(n).await
}

async fn level_three(n: u64) -> String {
    let before = (REQUEST_ID.get(), USER_ID.get());
    tokio::time::sleep(SLEEP).await;
    let in_subtask = contextvars::spawn(async move {
        info!(n, "subtask");
        (REQUEST_ID.get(), USER_ID.get())
    })
    .await
    .expect("the subtask does not panic");
    let after = (REQUEST_ID.get(), USER_ID.get());
    if before != after || before != in_subtask {
        return format!("inconsistent: before {before:?}, subtask {in_subtask:?}, after {after:?}");
    }
    format!("request_id={} user_id={}", after.0, after.1)
}

/// Pause between two chunks of `/stream/{n}`.
const CHUNK_PAUSE: Duration = Duration::from_millis(1);

/// Answers `n` lines `request_id=<id>`, each read from the variable when its chunk is produced,
/// after the handler has returned: the layer polls the body in the request's context.
async fn stream(Path(n): Path<usize>) -> Body {
    let chunks = futures::stream::unfold(0, move |sent| async move {
        if sent == n {
            return None;
        }
        if sent > 0 {
            tokio::time::sleep(CHUNK_PAUSE).await;
        }
        let line = format!("request_id={}\n", REQUEST_ID.get());
        Some((Ok::<_, std::convert::Infallible>(line), sent + 1))
    });
    Body::from_stream(chunks)
}

/// Answers what `LAST_SEEN` held, then sets it to this request's `x-request-id` and leaves it
/// set. With the layer, the next request never sees it.
async fn remember(headers: HeaderMap) -> String {
    let seen = LAST_SEEN.get();
    let id = header_str(headers.get("x-request-id")).unwrap_or("none");
    LAST_SEEN.set(id.to_owned());
    seen
}

/// A loopback listener with room for many simultaneous connects.
///
/// # Errors
/// When the socket cannot be made, bound or listened on.
pub fn bind(port: u16) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(4096)
}

/// Serves `router` on `listener` until `shutdown` completes.
///
/// # Errors
/// When accepting connections fails.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A server serving on a task of the current runtime until [`Running::stop`].
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves the app, with or without the context layer, on `listener` in a task of the current
/// runtime, until [`Running::stop`].
///
/// # Panics
/// When the listener has no local address.
pub fn spawn(listener: TcpListener, with_layer: bool) -> Running {
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, router(with_layer), async move {
        let _ = stopped.await;
    }));
    Running { addr, stop, task }
}

impl Running {
    /// Stops the server gracefully and waits for it.
    ///
    /// # Errors
    /// What serving failed with.
    ///
    /// # Panics
    /// When the server's task panicked.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        self.task.await.expect("the server task")
    }
}

/// The answer the server owes to request `n` of [`send_requests`].
pub fn expected_answer(n: usize) -> String {
    format!("request_id=req-{n} user_id=user-{n}")
}

/// One answered request of [`send_requests`].
#[derive(Debug)]
pub struct Outcome {
    /// The request's number: it was sent as `/work/{n}` with `x-request-id: req-{n}` and
    /// `x-user-id: user-{n}`.
    pub n: usize,
    /// The response body, or the error.
    pub answer: Result<String, String>,
    /// From sending the request to the last byte of the answer.
    pub latency: Duration,
}

/// Sends `requests` requests to `addr` with at most `concurrency` in flight, request `n` as
/// `GET /work/{n}` with its own `x-request-id` and `x-user-id`; the outcomes, in order of `n`.
pub async fn send_requests(addr: SocketAddr, requests: usize, concurrency: usize) -> Vec<Outcome> {
    crate::http_client::load(requests, concurrency, move |client, n| async move {
        let start = Instant::now();
        let answer = get_work(&client, addr, n).await;
        (answer, start.elapsed())
    })
    .await
    .into_iter()
    .map(|(n, (answer, latency))| Outcome { n, answer, latency })
    .collect()
}

async fn get_work(client: &HttpClient, addr: SocketAddr, n: usize) -> Result<String, String> {
    let request = hyper::Request::get(format!("http://{addr}/work/{n}"))
        .header("x-request-id", format!("req-{n}"))
        .header("x-user-id", format!("user-{n}"));
    fetch(client, request).await
}

/// What a load run measured.
#[derive(Debug)]
pub struct Summary {
    /// Requests sent.
    pub requests: usize,
    /// Requests that failed (connection error, non-2xx status).
    pub errors: usize,
    /// Answers that carried another request's values, or none.
    pub crosstalk: usize,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Answered requests per second of wall time.
    pub per_second: f64,
}

/// Sums up `outcomes` of a run that took `elapsed`; with `check`, counts every answer that is
/// not exactly [`expected_answer`] as crosstalk.
pub fn summarize(outcomes: &[Outcome], elapsed: Duration, check: bool) -> Summary {
    let errors = outcomes.iter().filter(|o| o.answer.is_err()).count();
    let crosstalk = if check {
        outcomes
            .iter()
            .filter(|o| matches!(&o.answer, Ok(answer) if *answer != expected_answer(o.n)))
            .count()
    } else {
        0
    };
    let mut latencies: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
    latencies.sort_unstable();
    let percentile = |p: usize| {
        latencies
            .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    #[allow(clippy::cast_precision_loss)] // request counts are far below 2^52
    let per_second = (outcomes.len() - errors) as f64 / elapsed.as_secs_f64();
    Summary {
        requests: outcomes.len(),
        errors,
        crosstalk,
        p50: percentile(50),
        p99: percentile(99),
        per_second,
    }
}
