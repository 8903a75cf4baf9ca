//! Two services in one process: a public gateway that reads the request id, the tenant and the
//! user from headers, and a backend it calls, which learns the request id and the tenant from
//! the request's W3C baggage, and never the user. Shared by `main.rs` and
//! `tests/two_services.rs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::routing::get;
use contextvars::baggage::Accept;
use contextvars::module_vars;
use contextvars_tower::{ContextLayer, PropagateLayer, PropagateService};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::{TcpListener, TcpSocket};

use contextvars_examples::http_client::{HttpClient, fetch};
use tower::{Layer, ServiceExt};

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

/// The keys the backend takes from its callers' baggage.
const BACKEND_ACCEPTS: [&str; 2] = ["request_id", "tenant"];

/// The gateway's client to the backend: every request it sends carries the propagated
/// variables of the request being handled.
#[derive(Clone)]
struct Gateway {
    backend: SocketAddr,
    client: PropagateService<HttpClient>,
}

fn header_or(value: Option<&HeaderValue>, default: impl FnOnce() -> String) -> String {
    value
        .and_then(|value| value.to_str().ok())
        .map_or_else(default, str::to_owned)
}

fn generate_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("gen-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The gateway: each request in its own context, its variables from its headers only (it
/// faces the public internet, so it takes nothing from the client's baggage); `GET /call`
/// calls the backend and answers its body unchanged.
pub fn gateway(backend: SocketAddr) -> Router {
    let layer = ContextLayer::new()
        .reset(&module_vars!(request))
        .header_var(&REQUEST_ID, "x-request-id", |v| {
            header_or(v, generate_request_id)
        })
        .header_var(&TENANT, "x-tenant", |v| header_or(v, || "none".to_owned()))
        .header_var(&USER_ID, "x-user-id", |v| {
            header_or(v, || "anonymous".to_owned())
        });
    let client = PropagateLayer::new().layer(
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(4096)
            .build_http(),
    );
    Router::new()
        .route("/call", get(call))
        .with_state(Gateway { backend, client })
        .layer(layer)
}

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
    String::from_utf8(body.to_vec()).map_err(|err| bad_gateway(&err))
}

/// The backend: each request in its own context, the request id and the tenant from the
/// baggage its gateway sends, nothing else; `GET /whoami` answers what it sees as JSON.
pub fn backend() -> Router {
    let layer = ContextLayer::new()
        .reset(&module_vars!(request))
        .accept_baggage(Accept::keys(BACKEND_ACCEPTS));
    Router::new().route("/whoami", get(whoami)).layer(layer)
}

async fn whoami() -> String {
    serde_json::json!({
        "request_id": REQUEST_ID.get(),
        "tenant": TENANT.get(),
        "user_id": USER_ID.get(),
    })
    .to_string()
}

/// A loopback listener on any free port, with room for many simultaneous connects.
pub fn bind() -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    socket.listen(4096)
}

/// Both services, serving on loopback until the runtime stops: the gateway's and the
/// backend's addresses.
pub fn start() -> std::io::Result<(SocketAddr, SocketAddr)> {
    let (gateway_listener, backend_listener) = (bind()?, bind()?);
    let backend_addr = backend_listener.local_addr()?;
    let gateway_addr = gateway_listener.local_addr()?;
    tokio::spawn(async move { axum::serve(backend_listener, backend()).await });
    tokio::spawn(async move { axum::serve(gateway_listener, gateway(backend_addr)).await });
    Ok((gateway_addr, backend_addr))
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

/// Sends `requests` requests to the gateway's `GET /call` with at most `concurrency` in
/// flight, request `n` with `x-request-id: req-n`, `x-tenant: tenant-(n % 7)`,
/// `x-user-id: user-n` and a forged `baggage: tenant=forged,USER_ID=root`, and checks every
/// answer against [`expected_answer`].
pub async fn load(gateway: SocketAddr, requests: usize, concurrency: usize) -> Tally {
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency)
        .build_http();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.clamp(1, requests.max(1)) {
        let (client, next) = (client.clone(), Arc::clone(&next));
        workers.spawn(async move {
            let mut tally = Tally::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= requests {
                    return tally;
                }
                match call_gateway(&client, gateway, n).await {
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
        });
    }
    let mut total = Tally::default();
    while let Some(done) = workers.join_next().await {
        let tally = done.expect("a client worker does not panic");
        total.errors += tally.errors;
        total.crosstalk += tally.crosstalk;
        total.first = total.first.or(tally.first);
    }
    total
}

async fn call_gateway(
    client: &HttpClient,
    gateway: SocketAddr,
    n: usize,
) -> Result<String, String> {
    let request = hyper::Request::get(format!("http://{gateway}/call"))
        .header("x-request-id", format!("req-{n}"))
        .header("x-tenant", format!("tenant-{}", n % 7))
        .header("x-user-id", format!("user-{n}"))
        .header("baggage", "tenant=forged,USER_ID=root");
    fetch(client, request).await
}
