//! One request through a service, in process, with the request server example's set-up: two
//! declared variables reset to their defaults and two set from headers, read by the handler.
//!
//! - `bare`: the handler alone, reading its values from the request's headers;
//! - `ours`: `ContextLayer` (fresh context, reset, two `header_var`s), the handler reads the
//!   variables;
//! - `ours_reading_baggage`: the same layer trusting incoming baggage, for a request with a
//!   `baggage` header of one member that no variable propagates: every variable is reset
//!   before the baggage is read, then set again from its header (a request without baggage
//!   costs what `ours` does: `ours_reading_baggage_none_sent`);
//! - `ours_no_headers`: `ours` for a request without the two headers: both variables reset to
//!   fresh defaults (`String::new()`, `String::from("anonymous")`), each stored behind an `Arc`;
//! - `ours_no_headers_inline_defaults`: the same with two `u64` variables, whose defaults
//!   allocate nothing and are stored inline: the floor of a reset that built no default at all,
//!   so `ours_no_headers` minus this is what the defaults themselves cost;
//! - `tokio`: the same values from the headers into two `task_local!` scopes around the handler;
//! - `tower_http`: tower-http's `SetRequestIdLayer` and `PropagateRequestIdLayer` around the
//!   bare handler (one id, generated when absent, echoed on the response);
//! - `axum_bare`, `axum_ours`, `axum_noop_layer`: `bare` and `ours` as the route of an axum
//!   `Router`, the layer added with `Router::layer` as an axum app adds it, and a layer that
//!   does nothing added the same way: axum boxes a layered route once more, clones it for every
//!   request and boxes a response body of another type, so `axum_noop_layer` minus `axum_bare`
//!   is what any layer costs there, and `axum_ours` minus `axum_noop_layer` what this one adds.
//!
//! Every service is ready at once and its future completes on the first poll, which this bench
//! does with a no-op waker: the figures are the per-request cost of each approach, without an
//! executor or a network. Benchmark ids are `request/<contender>`.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{self, Poll, Waker};

use axum::routing::get;
use contextvars::baggage::Accept;
use contextvars::module_vars;
use contextvars_tower::ContextLayer;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderName, Request, Response};
use tower::{Layer, Service, ServiceBuilder, service_fn};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

mod request {
    use contextvars::context_var;

    #[context_var(default = String::new())]
    pub static REQUEST_ID: String;

    #[context_var(default = String::from("anonymous"))]
    pub static USER_ID: String;
}

/// Variables whose defaults allocate nothing and are stored inline in the map.
mod inline_defaults {
    use contextvars::context_var;

    #[context_var(default = 0)]
    pub static REQUEST_ID: u64;

    #[context_var(default = 7)]
    pub static USER_ID: u64;
}

tokio::task_local! {
    static TOKIO_REQUEST_ID: String;
    static TOKIO_USER_ID: String;
}

fn header(headers: &HeaderMap, name: &str, default: &str) -> String {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or(default)
        .to_owned()
}

fn request() -> Request<()> {
    Request::builder()
        .header("x-request-id", "req-7")
        .header("x-user-id", "user-7")
        .body(())
        .unwrap()
}

/// The handler under the layer: reads both variables.
async fn read_vars(_: Request<()>) -> Result<Response<usize>, Infallible> {
    let len = request::REQUEST_ID.with(|id| id.map_or(0, String::len))
        + request::USER_ID.with(|user| user.map_or(0, String::len));
    Ok(Response::new(len))
}

/// The handler under the layer of `u64` variables: reads both.
async fn read_u64_vars(_: Request<()>) -> Result<Response<usize>, Infallible> {
    let sum = inline_defaults::REQUEST_ID.get() + inline_defaults::USER_ID.get();
    Ok(Response::new(usize::try_from(sum).unwrap_or(0)))
}

/// Calls `service` once and polls its future to completion, which it reaches at once.
fn call<B, S: Service<Request<B>>>(service: &mut S, request: Request<B>) -> S::Response {
    let mut cx = task::Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut future = pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        _ => panic!("the service completes on its first poll"),
    }
}

fn bench_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("request");

    let mut bare = service_fn(|request: Request<()>| async move {
        let id = header(request.headers(), "x-request-id", "");
        let user = header(request.headers(), "x-user-id", "anonymous");
        Ok::<_, Infallible>(Response::new(id.len() + user.len()))
    });
    group.bench_function("bare", |b| {
        b.iter(|| black_box(call(&mut bare, black_box(request()))));
    });

    let layer = ContextLayer::new()
        .reset(&module_vars!(request))
        .header_var(
            &request::REQUEST_ID,
            HeaderName::from_static("x-request-id"),
            |value| value.and_then(|v| v.to_str().ok()).map(str::to_owned),
        )
        .header_var(
            &request::USER_ID,
            HeaderName::from_static("x-user-id"),
            |value| value.and_then(|v| v.to_str().ok()).map(str::to_owned),
        );
    let mut ours = layer.clone().layer(service_fn(read_vars));
    group.bench_function("ours", |b| {
        b.iter(|| black_box(call(&mut ours, black_box(request()))));
    });

    // The same layer on a service that also reads trusted baggage (the request has some): every
    // declared variable is reset before the baggage, then set again from its header.
    let mut ours_baggage = layer
        .clone()
        .accept_baggage(Accept::all())
        .layer(service_fn(read_vars));
    let with_baggage = || {
        let mut request = request();
        request
            .headers_mut()
            .insert("baggage", http::HeaderValue::from_static("unrelated=1"));
        request
    };
    group.bench_function("ours_reading_baggage", |b| {
        b.iter(|| black_box(call(&mut ours_baggage, black_box(with_baggage()))));
    });
    group.bench_function("ours_reading_baggage_none_sent", |b| {
        b.iter(|| black_box(call(&mut ours_baggage, black_box(request()))));
    });

    let no_headers = || Request::new(());
    let mut ours_no_headers = layer.clone().layer(service_fn(read_vars));
    group.bench_function("ours_no_headers", |b| {
        b.iter(|| black_box(call(&mut ours_no_headers, black_box(no_headers()))));
    });

    let parse = |value: Option<&http::HeaderValue>| {
        value
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let mut ours_inline_defaults = ContextLayer::new()
        .reset(&module_vars!(inline_defaults))
        .header_var(
            &inline_defaults::REQUEST_ID,
            HeaderName::from_static("x-request-id"),
            parse,
        )
        .header_var(
            &inline_defaults::USER_ID,
            HeaderName::from_static("x-user-id"),
            parse,
        )
        .layer(service_fn(read_u64_vars));
    group.bench_function("ours_no_headers_inline_defaults", |b| {
        b.iter(|| black_box(call(&mut ours_inline_defaults, black_box(no_headers()))));
    });

    let mut tokio = service_fn(|request: Request<()>| {
        let id = header(request.headers(), "x-request-id", "");
        let user = header(request.headers(), "x-user-id", "anonymous");
        TOKIO_REQUEST_ID.scope(
            id,
            TOKIO_USER_ID.scope(user, async {
                let len = TOKIO_REQUEST_ID.with(String::len) + TOKIO_USER_ID.with(String::len);
                Ok::<_, Infallible>(Response::new(len))
            }),
        )
    });
    group.bench_function("tokio", |b| {
        b.iter(|| black_box(call(&mut tokio, black_box(request()))));
    });

    let mut tower_http = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .service(bare);
    group.bench_function("tower_http", |b| {
        b.iter(|| black_box(call(&mut tower_http, black_box(request()))));
    });

    bench_axum(&mut group, &layer);

    group.finish();
    // The layer set the variables in each request's own context only.
    assert!(!request::REQUEST_ID.is_set());
}

/// The request through an axum `Router`: bare, with a layer that does nothing, with `layer`.
fn bench_axum(group: &mut BenchmarkGroup<'_, WallTime>, layer: &ContextLayer) {
    let axum_request = || {
        Request::builder()
            .uri("/")
            .header("x-request-id", "req-7")
            .header("x-user-id", "user-7")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let bare_route = || {
        axum::Router::new().route(
            "/",
            get(|request: axum::extract::Request| async move {
                let id = header(request.headers(), "x-request-id", "");
                let user = header(request.headers(), "x-user-id", "anonymous");
                black_box(id.len() + user.len());
            }),
        )
    };
    let mut axum_bare = bare_route();
    group.bench_function("axum_bare", |b| {
        b.iter(|| black_box(call(&mut axum_bare, black_box(axum_request()))));
    });
    let mut axum_noop_layer = bare_route().layer(tower::layer::layer_fn(|inner| inner));
    group.bench_function("axum_noop_layer", |b| {
        b.iter(|| black_box(call(&mut axum_noop_layer, black_box(axum_request()))));
    });
    let mut axum_ours = axum::Router::new()
        .route(
            "/",
            get(|| async {
                let len = request::REQUEST_ID.with(|id| id.map_or(0, String::len))
                    + request::USER_ID.with(|user| user.map_or(0, String::len));
                black_box(len);
            }),
        )
        .layer(layer.clone());
    group.bench_function("axum_ours", |b| {
        b.iter(|| black_box(call(&mut axum_ours, black_box(axum_request()))));
    });
}

criterion_group!(benches, bench_request);
criterion_main!(benches);
