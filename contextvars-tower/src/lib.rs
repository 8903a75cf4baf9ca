//! A [tower](https://docs.rs/tower) layer that runs every request in a context of its own.
//!
//! A server polls thousands of request futures on a few worker threads. Unwrapped, a handler
//! that sets a variable writes into its worker thread's context, where the next request polled
//! on that thread finds it: the leak uvicorn fixed with `--reset-contextvars`. [`ContextLayer`]
//! gives every request a fresh copy of the server's base context, made when the request
//! arrives, and runs the whole request future in it ([`WithContext`](contextvars::WithContext)): whatever a request sets
//! stays in that request, across every `.await`, on whichever thread it resumes, and
//! tasks it starts through `contextvars::spawn` inherit it.
//!
//! At the start of each request the layer can also reset declared variables to fresh defaults
//! ([`ContextLayer::reset`], with a [`VarSet`](contextvars::VarSet) from `get_context_vars!`) and set variables from
//! request headers ([`ContextLayer::header_var`]).
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
//! assert_eq!(response.body(), "request abc");
//!
//! let response = futures::executor::block_on(service.oneshot(Request::new(()))).unwrap();
//! assert_eq!(response.body(), "request generated-1");
//! assert!(!REQUEST_ID.is_set()); // nothing flowed back to the caller
//! ```
//!
//! Inside it, [`EchoHeaderLayer`] sends a variable back as a response header, and (feature
//! `tracing`) [`RequestSpanLayer`] opens a span per request that carries the request's
//! variables; its documentation gives the order of layers with tower-http's `TraceLayer` and
//! request-id layers.
//!
//! With axum, add it to the router: `Router::new().route("/", get(handler)).layer(layer)`;
//! with hyper, wrap the service given to the connection with [`Layer::layer`](tower_layer::Layer::layer).

mod layer;
mod service;
mod span;

pub use layer::ContextLayer;
pub use service::ContextService;
pub use span::{EchoHeader, EchoHeaderFuture, EchoHeaderLayer};
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use span::{RequestSpan, RequestSpanLayer};

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures::executor::block_on;
    use tower::{ServiceExt, service_fn};

    use contextvars::{Context, ContextVar};
    use http::Request;
    use tower_layer::Layer;

    use super::*;

    static SEEN: ContextVar<u32> = ContextVar::with_default("seen", || 0);
    static CONFIG: ContextVar<&str> = ContextVar::new("config");

    async fn set_and_read(_request: Request<()>) -> Result<u32, Infallible> {
        let before = SEEN.get();
        SEEN.set(before + 1);
        Ok(before)
    }

    #[test]
    fn requests_never_see_each_other_s_values() {
        let service = ContextLayer::new().layer(service_fn(set_and_read));
        for _ in 0..3 {
            let seen = block_on(service.clone().oneshot(Request::new(()))).unwrap();
            assert_eq!(seen, 0);
        }
        assert!(!SEEN.is_set());
    }

    #[test]
    fn base_is_taken_at_construction_unless_inherited_at_request() {
        let read = |_: Request<()>| async { Ok::<_, Infallible>(CONFIG.try_get().ok()) };
        let token = CONFIG.set("at construction");
        let fixed = ContextLayer::new().layer(service_fn(read));
        let at_request = ContextLayer::inherit_at_request().layer(service_fn(read));
        CONFIG.reset(token).unwrap();
        let _later = CONFIG.set("later");
        let seen = block_on(fixed.oneshot(Request::new(()))).unwrap();
        assert_eq!(seen, Some("at construction"));
        let seen = block_on(at_request.oneshot(Request::new(()))).unwrap();
        assert_eq!(seen, Some("later"));
    }

    #[test]
    fn header_var_gets_the_header_or_none() {
        static ID: ContextVar<String> = ContextVar::new("id");
        let layer = ContextLayer::with_base(Context::new()).header_var(&ID, "X-Request-Id", |v| {
            v.map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned())
        });
        let service = layer.layer(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(ID.get())
        }));
        let with = Request::builder()
            .header("x-request-id", "r-1")
            .body(())
            .unwrap();
        assert_eq!(block_on(service.clone().oneshot(with)).unwrap(), "r-1");
        assert_eq!(block_on(service.oneshot(Request::new(()))).unwrap(), "none");
        assert!(format!("{layer:?}").contains("x-request-id"));
    }
}
