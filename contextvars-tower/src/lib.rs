//! [tower](https://docs.rs/tower) middleware that runs every request in a context of its own,
//! and carries the request's variables and trace to the services it calls.
//!
//! A server polls thousands of request futures on a few worker threads. Unwrapped, a handler
//! that sets a variable writes into its worker thread's context, where the next request polled
//! on that thread finds it: the leak uvicorn fixed with `--reset-contextvars`. [`ContextLayer`]
//! gives every request a fresh copy of the server's base context, made when the request
//! arrives, and runs the whole request future in it: whatever a request sets stays in that
//! request, across every `.await`, on whichever thread it resumes, and tasks it starts through
//! `contextvars::spawn` inherit it. The response body is polled in the same context
//! ([`ContextBody`](context::ContextBody)), so a streaming body produced after the handler
//! returned still reads the request's variables.
//!
//! One module per middleware, as in tower-http, each with its layer, its service and its
//! response future; the layers are also at the crate's root:
//!
//! | module | layer | service | what it does |
//! |---|---|---|---|
//! | [`context`] | [`ContextLayer`] | [`Context`](context::Context) | each request in its own context: resets, variables from headers, accepted baggage, (feature `opentelemetry`) the caller's trace context |
//! | [`propagate`] | [`PropagateLayer`] | [`Propagate`](propagate::Propagate) | on a client: the propagated variables (and the trace context) into every outgoing request, optionally in a client span |
//! | [`echo`] | [`EchoHeaderLayer`] | [`EchoHeader`](echo::EchoHeader) | a variable back as a response header |
//! | [`request_span`] | [`RequestSpanLayer`] | [`RequestSpan`](request_span::RequestSpan) | a server span per request in OpenTelemetry's HTTP conventions, current while the body streams |
//!
//! Every service has `get_ref`, `get_mut` and `into_inner`; everything is `Clone` and `Debug`.
//! Header names are [`HeaderName`](http::HeaderName)s: write constants with
//! `HeaderName::from_static`.
//!
//! ```
//! use std::convert::Infallible;
//!
//! use contextvars::ContextVar;
//! use contextvars_tower::ContextLayer;
//! use http::{HeaderName, HeaderValue, Request, Response};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
//!
//! fn request_id(header: Option<&HeaderValue>) -> String {
//!     header
//!         .and_then(|value| value.to_str().ok())
//!         .map_or_else(|| "generated-1".to_owned(), str::to_owned)
//! }
//!
//! async fn handler(_request: Request<()>) -> Result<Response<String>, Infallible> {
//!     let id = REQUEST_ID.get(); // no parameter: read from the request's context
//!     Ok(Response::new(format!("request {id}")))
//! }
//!
//! let x_request_id = HeaderName::from_static("x-request-id");
//! let service = ServiceBuilder::new()
//!     .layer(ContextLayer::new().header_var(&REQUEST_ID, x_request_id, request_id))
//!     .service(service_fn(handler));
//!
//! let request = Request::builder().header("x-request-id", "abc").body(()).unwrap();
//! let response = futures::executor::block_on(service.clone().oneshot(request)).unwrap();
//! assert_eq!(response.body().get_ref(), "request abc");
//!
//! let response = futures::executor::block_on(service.oneshot(Request::new(()))).unwrap();
//! assert_eq!(response.body().get_ref(), "request generated-1");
//! assert!(!REQUEST_ID.is_set()); // nothing flowed back to the caller
//! ```
//!
//! With axum, add it to the router: `Router::new().route("/", get(handler)).layer(layer)`;
//! with hyper, wrap the service given to the connection with [`Layer::layer`](tower_layer::Layer::layer).
//!
//! # Two set-ups
//!
//! Variables declared `#[context_var(default = ..., propagate)]` travel to the services a
//! request calls as W3C baggage. Two ways to wire it, side by side; in both, a public edge
//! believes none of its clients' baggage (whoever sends a request writes it), and an internal
//! service names the variables it trusts its gateways with.
//!
//! | | baggage only | full OpenTelemetry (feature `opentelemetry`) |
//! |---|---|---|
//! | what travels | the propagated variables | the propagated variables, `traceparent` and `tracestate` |
//! | public edge | `ContextLayer::new()` | `ContextLayer::new().propagator(TraceContextPropagator::new())` |
//! | internal service | `ContextLayer::new().accept_baggage(Accept::none().var(&TENANT))` | `ContextLayer::new().propagator(composite)`, the composite of `TraceContextPropagator` and `BaggagePropagator::new().accept_baggage(Accept::none().var(&TENANT))` |
//! | client | `PropagateLayer::new()` | `PropagateLayer::new().propagator(composite).client_span(…)`, the composite of `TraceContextPropagator` and `BaggagePropagator::new()` |
//! | request span | [`RequestSpanLayer`] (any `tracing` subscriber) | [`RequestSpanLayer`], parented on the caller's span; tracing-opentelemetry exports it |
//! | use it when | no tracing backend, or trace context handled elsewhere | spans go to OpenTelemetry and one trace must cross the services |
//!
//! In the OpenTelemetry set-up, one propagator configuration does everything (the same one can
//! be the global propagator for job queues), and the trust lives in its
//! `BaggagePropagator`; do not add `accept_baggage` to the layer as well.
//!
//! ```
//! # #[cfg(feature = "opentelemetry")] {
//! use contextvars::baggage::Accept;
//! use contextvars::context_var;
//! use contextvars_opentelemetry::BaggagePropagator;
//! use contextvars_tower::{ContextLayer, PropagateLayer, RequestSpanLayer};
//! use opentelemetry::propagation::TextMapCompositePropagator;
//! use opentelemetry_sdk::propagation::TraceContextPropagator;
//! use tower::ServiceBuilder;
//!
//! #[context_var(default = String::from("none"), propagate = "tenant")]
//! static TENANT: String;
//!
//! let composite = |accept: Accept| {
//!     TextMapCompositePropagator::new(vec![
//!         Box::new(TraceContextPropagator::new()),
//!         Box::new(BaggagePropagator::new().accept_baggage(accept)),
//!     ])
//! };
//! // The gateway continues its clients' traces and believes none of their baggage.
//! let gateway = ServiceBuilder::new()
//!     .layer(ContextLayer::new().propagator(composite(Accept::none())))
//!     .layer(RequestSpanLayer::new().target("gateway"));
//! // Its HTTP client: trace context and propagated variables, in a client span.
//! let client = PropagateLayer::new()
//!     .propagator(composite(Accept::none()))
//!     .client_span("backend", "gateway", tracing::Level::INFO);
//! // The backend believes its gateway's tenant.
//! let backend = ServiceBuilder::new()
//!     .layer(ContextLayer::new().propagator(composite(Accept::none().var(&TENANT))))
//!     .layer(RequestSpanLayer::new().target("backend"));
//! # let _ = (gateway, client, backend);
//! # }
//! ```
//!
//! # Feature flags
//!
//! - `opentelemetry`: `ContextLayer::propagator`, `PropagateLayer::propagator` and the
//!   remote parent of the request span, with opentelemetry, tracing-opentelemetry and
//!   contextvars-opentelemetry.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

mod baggage;
pub mod context;
pub mod echo;
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub mod otel;
pub mod propagate;
pub mod request_span;
mod span;

pub use context::ContextLayer;
pub use echo::EchoHeaderLayer;
pub use propagate::PropagateLayer;
pub use request_span::RequestSpanLayer;

/// `get_ref`, `get_mut` and `into_inner` for a service `$service<S>` whose field `inner` is
/// the wrapped service.
macro_rules! accessors {
    ($service:ident) => {
        impl<S> $service<S> {
            /// The wrapped service.
            pub fn get_ref(&self) -> &S {
                &self.inner
            }

            /// The wrapped service, mutably.
            pub fn get_mut(&mut self) -> &mut S {
                &mut self.inner
            }

            /// The wrapped service, unwrapped.
            pub fn into_inner(self) -> S {
                self.inner
            }
        }
    };
}
use accessors;

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context as TaskContext, Poll};

    use bytes::Bytes;
    use futures::executor::block_on;
    use http_body::{Body, Frame};
    use http_body_util::BodyExt;
    use tower::{ServiceExt, service_fn};

    use contextvars::{Context, ContextVar};
    use http::{HeaderName, Request, Response};
    use tower_layer::Layer;

    use super::*;

    static SEEN: ContextVar<u32> = ContextVar::with_default("seen", || 0);
    static CONFIG: ContextVar<&str> = ContextVar::new("config");
    static ID: ContextVar<String> = ContextVar::with_default("id", || "none".to_owned());

    #[allow(clippy::unnecessary_wraps)] // the shape a service returns
    fn respond<T>(body: T) -> Result<Response<T>, Infallible> {
        Ok(Response::new(body))
    }

    fn body<T: Clone>(response: &Response<context::ContextBody<T>>) -> T {
        response.body().get_ref().clone()
    }

    async fn set_and_read(_request: Request<()>) -> Result<Response<u32>, Infallible> {
        let before = SEEN.get();
        SEEN.set(before + 1);
        respond(before)
    }

    #[test]
    fn requests_never_see_each_other_s_values() {
        let service = ContextLayer::new().layer(service_fn(set_and_read));
        for _ in 0..3 {
            let response = block_on(service.clone().oneshot(Request::new(()))).unwrap();
            assert_eq!(body(&response), 0);
        }
        assert!(!SEEN.is_set());
    }

    #[test]
    fn base_is_taken_at_construction_unless_inherited_at_request() {
        let read = |_: Request<()>| async { respond(CONFIG.try_get().ok()) };
        let token = CONFIG.set("at construction");
        let fixed = ContextLayer::new().layer(service_fn(read));
        let at_request = ContextLayer::inherit_at_request().layer(service_fn(read));
        CONFIG.reset(token).unwrap();
        let _later = CONFIG.set("later");
        let response = block_on(fixed.oneshot(Request::new(()))).unwrap();
        assert_eq!(body(&response), Some("at construction"));
        let response = block_on(at_request.oneshot(Request::new(()))).unwrap();
        assert_eq!(body(&response), Some("later"));
    }

    #[test]
    fn header_var_gets_the_header_or_none() {
        let layer = ContextLayer::with_base(Context::new()).header_var(
            &ID,
            HeaderName::from_static("x-request-id"),
            |v| v.map(|v| v.to_str().unwrap().to_owned()),
        );
        let service = layer.layer(service_fn(|_: Request<()>| async { respond(ID.get()) }));
        let with = Request::builder()
            .header("x-request-id", "r-1")
            .body(())
            .unwrap();
        let response = block_on(service.clone().oneshot(with)).unwrap();
        assert_eq!(body(&response), "r-1");
        let response = block_on(service.oneshot(Request::new(()))).unwrap();
        assert_eq!(body(&response), "none");
        assert!(format!("{layer:?}").contains("x-request-id"));
    }

    mod declared {
        #[contextvars::context_var(default = String::from("fresh"))]
        pub static TENANT: String;

        #[contextvars::context_var(default = 0, propagate = "lib_test_attempt")]
        pub static ATTEMPT: u32;
    }

    #[test]
    fn a_reset_variable_is_its_header_s_value_or_else_a_fresh_default() {
        let mut base = Context::new();
        base.run(|| {
            declared::TENANT.set("left by the server".to_owned());
            declared::ATTEMPT.set(9);
        });
        let tenant = |v: Option<&http::HeaderValue>| v.map(|v| v.to_str().unwrap().to_owned());
        let attempt =
            |v: Option<&http::HeaderValue>| v.map(|v| v.to_str().unwrap().parse().unwrap());
        let layer = |accept: contextvars::baggage::Accept| {
            ContextLayer::with_base(base.clone())
                .reset(&contextvars::module_vars!(declared))
                .accept_baggage(accept)
                .header_var(
                    &declared::TENANT,
                    HeaderName::from_static("x-tenant"),
                    tenant,
                )
                .header_var(
                    &declared::ATTEMPT,
                    HeaderName::from_static("x-attempt"),
                    attempt,
                )
                .layer(service_fn(|_: Request<()>| async {
                    respond((declared::TENANT.get(), declared::ATTEMPT.get()))
                }))
        };
        let request = |headers: &[(&str, &str)]| {
            let mut request = Request::builder();
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            request.body(()).unwrap()
        };
        let none = contextvars::baggage::Accept::none;
        let serve = |accept, headers| block_on(layer(accept).oneshot(request(headers))).unwrap();
        let seen = |tenant: &str, attempt: u32| (tenant.to_owned(), attempt);

        assert_eq!(body(&serve(none(), &[])), seen("fresh", 0));
        assert_eq!(
            body(&serve(none(), &[("x-tenant", "acme")])),
            seen("acme", 0)
        );
        let both = [("x-tenant", "acme"), ("x-attempt", "2")];
        assert_eq!(body(&serve(none(), &both)), seen("acme", 2));
        // Baggage comes between the resets and the headers: a header with no value leaves it.
        let trusted = || contextvars::baggage::Accept::none().var(&declared::ATTEMPT);
        let baggage = [("baggage", "lib_test_attempt=5")];
        assert_eq!(body(&serve(trusted(), &baggage)), seen("fresh", 5));
        let baggage = [("baggage", "lib_test_attempt=5"), ("x-attempt", "3")];
        assert_eq!(body(&serve(trusted(), &baggage)), seen("fresh", 3));
    }

    /// A streaming body: each frame is `ID` and `SEEN` as they are when the frame is produced.
    struct ReadsVars {
        frames: u32,
    }

    impl Body for ReadsVars {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut TaskContext<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.frames == 0 {
                return Poll::Ready(None);
            }
            self.frames -= 1;
            SEEN.set(SEEN.get() + 1);
            let line = format!("{} {}\n", ID.get(), SEEN.get());
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(line)))))
        }
    }

    #[test]
    fn the_body_is_produced_in_the_request_s_context_after_the_handler_returned() {
        let service = ContextLayer::with_base(Context::new())
            .header_var(&ID, HeaderName::from_static("x-request-id"), |v| {
                v.map_or(String::new(), |v| v.to_str().unwrap().to_owned())
            })
            .layer(service_fn(|_: Request<()>| async {
                SEEN.set(10);
                respond(ReadsVars { frames: 3 })
            }));
        let request = Request::builder()
            .header("x-request-id", "r-7")
            .body(())
            .unwrap();
        let response = block_on(service.oneshot(request)).unwrap();
        // Polled later, from a context that has values of its own.
        let _outsider = ID.set("outsider".to_owned());
        let bytes = block_on(response.into_body().collect()).unwrap().to_bytes();
        assert_eq!(bytes, "r-7 11\nr-7 12\nr-7 13\n");
        assert_eq!((ID.get(), SEEN.get()), ("outsider".to_owned(), 0));

        // The same body, unwrapped, reads whatever context polls it.
        let bytes = block_on(ReadsVars { frames: 1 }.collect())
            .unwrap()
            .to_bytes();
        assert_eq!(bytes, "outsider 1\n");
    }
}
