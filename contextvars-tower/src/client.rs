//! Outbound: the propagated variables of the calling context, written into every request a
//! client sends.

use std::task::{self, Poll};

use contextvars::baggage;
use http::{HeaderValue, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::baggage::{HEADER, joined, log_skipped};

/// A [`Layer`] for HTTP clients: every request sent through it carries, in its W3C `baggage`
/// header, the propagated variables (declared `#[context_var(default = ..., propagate)]`) that
/// the calling context binds. Nothing else leaves the process.
///
/// The values are read when the request is handed to the service (`call`; with `oneshot` and
/// `ready`, at the first poll), in the context of the code that sends it: inside a request
/// handled under [`ContextLayer`](crate::ContextLayer), that request's values. Await the call
/// in that context, not in a task spawned without it. Members that other code already put in the request's `baggage`
/// header (a forwarded client header) are kept after them, within the limits of 64 members
/// and 8,192 bytes, except those under a propagated variable's key: such a key carries the
/// calling context's own value or nothing, never a forwarded one (see the rule in
/// `contextvars::baggage`, which also says which own members are dropped, with a debug line,
/// when they do not all fit).
///
/// It wraps any `tower::Service<http::Request<B>>`: hyper-util's legacy `Client`, tonic's
/// `Channel` (for gRPC: `ServiceBuilder::new().layer(PropagateLayer::new()).service(channel)`,
/// then give the layered service to the generated client's `new`), `reqwest` through a tower
/// adapter, or axum's own services in tests.
///
/// ```
/// use std::convert::Infallible;
///
/// use contextvars::context_var;
/// use contextvars_tower::PropagateLayer;
/// use http::{Request, Response};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// #[context_var(default = String::from("none"), propagate = "region")]
/// static REGION: String;
///
/// // Stands in for the HTTP client: answers with the baggage it was given.
/// let client = ServiceBuilder::new()
///     .layer(PropagateLayer::new())
///     .service(service_fn(|request: Request<()>| async move {
///         let baggage = request.headers().get("baggage").cloned();
///         Ok::<_, Infallible>(Response::new(baggage))
///     }));
///
/// let response = REGION.scope("eu-west".to_owned(), || {
///     futures::executor::block_on(client.oneshot(Request::new(())))
/// });
/// let response = response.unwrap();
/// assert_eq!(response.body().as_ref().unwrap(), "region=eu-west");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct PropagateLayer {
    _private: (),
}

impl PropagateLayer {
    /// The layer.
    #[must_use]
    pub fn new() -> PropagateLayer {
        PropagateLayer { _private: () }
    }
}

impl<S> Layer<S> for PropagateLayer {
    type Service = PropagateService<S>;

    fn layer(&self, inner: S) -> PropagateService<S> {
        PropagateService { inner }
    }
}

/// The service made by [`PropagateLayer`].
#[derive(Clone, Debug)]
pub struct PropagateService<S> {
    inner: S,
}

impl<S> PropagateService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for PropagateService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> S::Future {
        inject(request.headers_mut());
        self.inner.call(request)
    }
}

/// Writes the calling context's propagated variables into `headers`' `baggage`, keeping the
/// members already there under other keys: a member under a propagated key never goes out
/// unless it is the calling context's own (the core's baggage codec decides which).
pub(crate) fn inject(headers: &mut http::HeaderMap) {
    let header = baggage::current_header_with(joined(headers).as_deref(), log_skipped);
    // The codec writes visible ASCII only, and copies only such foreign members.
    match HeaderValue::try_from(header) {
        Ok(value) if !value.is_empty() => {
            headers.insert(HEADER, value);
        }
        _ => {
            headers.remove(HEADER);
        }
    }
}
