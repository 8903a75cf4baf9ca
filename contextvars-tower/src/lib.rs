//! A [tower](https://docs.rs/tower) layer that runs every request in a context of its own.
//!
//! A server polls thousands of request futures on a few worker threads. Unwrapped, a handler
//! that sets a variable writes into its worker thread's context, where the next request polled
//! on that thread finds it: the leak uvicorn fixed with `--reset-contextvars`. [`ContextLayer`]
//! gives every request a fresh copy of the server's base context, made when the request
//! arrives, and runs the whole request future in it: whatever a request sets stays in that
//! request, across every `.await`, on whichever thread it resumes, and tasks it starts through
//! `contextvars::spawn` inherit it. The response body is polled in the same context
//! ([`ContextBody`]), so a streaming body (server-sent events, chunked output) produced after
//! the handler returned still reads the request's variables.
//!
//! At the start of each request the layer can also reset declared variables to fresh defaults
//! ([`ContextLayer::reset`], with a [`VarSet`](contextvars::VarSet) from `module_vars!`) and
//! set variables from request headers ([`ContextLayer::header_var`]).
//!
//! ```
//! use std::convert::Infallible;
//!
//! use contextvars::ContextVar;
//! use contextvars_tower::ContextLayer;
//! use http::{HeaderValue, Request, Response};
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
//! let service = ServiceBuilder::new()
//!     .layer(ContextLayer::new().header_var(&REQUEST_ID, "x-request-id", request_id))
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
//! # Across services
//!
//! Variables declared `#[context_var(default = ..., propagate)]` travel to the services a
//! request calls as W3C baggage: [`PropagateLayer`] on the HTTP (or gRPC) client writes them
//! into every outgoing request, and [`ContextLayer::accept_baggage`] on the called service
//! reads the keys it trusts. By default a `ContextLayer` reads none: baggage from the public
//! internet is written by the client.
//!
//! Inside it, [`EchoHeaderLayer`] sends a variable back as a response header, and (feature
//! `tracing`) [`RequestSpanLayer`] opens a span per request that carries the request's
//! variables; its documentation gives the order of layers with tower-http's `TraceLayer` and
//! request-id layers.
//!
//! With axum, add it to the router: `Router::new().route("/", get(handler)).layer(layer)`;
//! with hyper, wrap the service given to the connection with [`Layer::layer`](tower_layer::Layer::layer).

#![forbid(unsafe_code)]

mod baggage;
mod body;
mod client;
mod layer;
mod service;
mod span;

pub use body::{ContextBody, ResponseFuture};
pub use client::{PropagateLayer, PropagateService};
pub use layer::ContextLayer;
pub use service::ContextService;
pub use span::{EchoHeader, EchoHeaderFuture, EchoHeaderLayer};
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use span::{RequestSpan, RequestSpanLayer};

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
    use http::{Request, Response};
    use tower_layer::Layer;

    use super::*;

    static SEEN: ContextVar<u32> = ContextVar::with_default("seen", || 0);
    static CONFIG: ContextVar<&str> = ContextVar::new("config");
    static ID: ContextVar<String> = ContextVar::with_default("id", || "none".to_owned());

    #[allow(clippy::unnecessary_wraps)] // the shape a service returns
    fn respond<T>(body: T) -> Result<Response<T>, Infallible> {
        Ok(Response::new(body))
    }

    fn body<T: Clone>(response: &Response<ContextBody<T>>) -> T {
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
        let layer = ContextLayer::with_base(Context::new()).header_var(&ID, "X-Request-Id", |v| {
            v.map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned())
        });
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
            .header_var(&ID, "x-request-id", |v| {
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
