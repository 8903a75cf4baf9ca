//! Outbound: the propagated variables (and, with feature `opentelemetry`, the trace context) of
//! the calling context, written into every request a client sends: [`PropagateLayer`], its
//! service [`Propagate`] and its [`ResponseFuture`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{self, Poll};

use contextvars::baggage;
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use tracing::{Level, Metadata, Span};

use crate::baggage::{HEADER, joined, log_skipped};
use crate::span::{self, Shape};

/// The fields of a client span, in OpenTelemetry's HTTP client conventions.
const CLIENT_FIELDS: &[&str] = &[
    "otel.name",
    "otel.kind",
    "http.request.method",
    "url.full",
    "server.address",
    "http.response.status_code",
    "otel.status_code",
];

/// A [`Layer`] for HTTP clients: every request sent through it carries, in its W3C `baggage`
/// header, the propagated variables (declared `#[context_var(default = ..., propagate)]`) that
/// the calling context binds. Nothing else leaves the process.
///
/// With feature `opentelemetry`, `propagator` writes with an OpenTelemetry
/// propagator instead: `traceparent` of the current span and, through a
/// `contextvars_opentelemetry::BaggagePropagator` in it, the propagated variables. With
/// [`client_span`](Self::client_span), each request is sent inside a client span
/// (`otel.kind = "client"`), whose context is the one injected: the called service's server
/// span is its child.
///
/// The values are read when the request is handed to the service (`call`; with `oneshot` and
/// `ready`, at the first poll), in the context of the code that sends it: inside a request
/// handled under [`ContextLayer`](crate::ContextLayer), that request's values. Members that
/// other code already put in the request's `baggage` header (a forwarded client header) are
/// kept after them, within the limits of 64 members and 8,192 bytes, except those under a
/// propagated variable's key: such a key carries the calling context's own value or nothing,
/// never a forwarded one (see the rule in `contextvars::baggage`, which also says which own
/// members are dropped, with a debug line, when they do not all fit).
///
/// It wraps any `tower::Service<http::Request<B>>` answering `http::Response`s: hyper-util's
/// legacy `Client`, tonic's `Channel` (for gRPC: `ServiceBuilder::new()
/// .layer(PropagateLayer::new()).service(channel)`, then give the layered service to the
/// generated client's `new`), `reqwest` through a tower adapter, or axum's own services in
/// tests.
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
#[derive(Clone, Default)]
pub struct PropagateLayer {
    client_span: Option<&'static Metadata<'static>>,
    #[cfg(feature = "opentelemetry")]
    propagator: Option<crate::otel::SharedPropagator>,
}

impl PropagateLayer {
    /// Writes the propagated variables as baggage; no span.
    #[must_use]
    pub fn new() -> PropagateLayer {
        PropagateLayer::default()
    }

    /// Sends each request inside a span named `name`, with `target` and `level`, in
    /// OpenTelemetry's HTTP client conventions: `otel.name` (the method), `otel.kind =
    /// "client"`, `http.request.method`, `url.full`, `server.address`,
    /// `http.response.status_code` and `otel.status_code = "ERROR"` on a 5xx or an error.
    #[must_use]
    pub fn client_span(
        mut self,
        name: &'static str,
        target: &'static str,
        level: Level,
    ) -> PropagateLayer {
        let shape = Shape {
            name,
            target,
            level,
        };
        self.client_span = Some(span::metadata(&shape, CLIENT_FIELDS));
        self
    }
}

#[cfg(feature = "opentelemetry")]
impl PropagateLayer {
    /// Writes with `propagator` (feature `opentelemetry`), in place of the baggage alone: the
    /// OpenTelemetry context of the [client span](Self::client_span), or else of the current
    /// `tracing` span (through tracing-opentelemetry), with a composite of
    /// `TraceContextPropagator` and `contextvars_opentelemetry::BaggagePropagator` for
    /// `traceparent` and the propagated variables. See the
    /// [crate documentation](crate#two-set-ups).
    #[must_use]
    #[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
    pub fn propagator<P>(mut self, propagator: P) -> PropagateLayer
    where
        P: opentelemetry::propagation::TextMapPropagator + Send + Sync + 'static,
    {
        self.propagator = Some(std::sync::Arc::new(propagator));
        self
    }
}

impl fmt::Debug for PropagateLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("PropagateLayer");
        debug.field("client_span", &self.client_span.map(Metadata::name));
        #[cfg(feature = "opentelemetry")]
        debug.field("propagator", &self.propagator.is_some());
        debug.finish()
    }
}

impl<S> Layer<S> for PropagateLayer {
    type Service = Propagate<S>;

    fn layer(&self, inner: S) -> Propagate<S> {
        Propagate {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`PropagateLayer`].
#[derive(Clone, Debug)]
pub struct Propagate<S> {
    inner: S,
    layer: PropagateLayer,
}

crate::accessors!(Propagate);

impl<S, B, R> Service<Request<B>> for Propagate<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> ResponseFuture<S::Future> {
        let span = self
            .layer
            .client_span
            .map_or_else(Span::none, |metadata| open_client_span(metadata, &request));
        span.in_scope(|| {
            #[cfg(feature = "opentelemetry")]
            if let Some(propagator) = &self.layer.propagator {
                crate::otel::inject(propagator, &span, request.headers_mut());
                return;
            }
            inject(request.headers_mut());
        });
        let inner = span.in_scope(|| self.inner.call(request));
        ResponseFuture { inner, span }
    }
}

fn open_client_span<B>(metadata: &'static Metadata<'static>, request: &Request<B>) -> Span {
    let method = request.method().as_str();
    let url = request.uri().to_string();
    let host = request.uri().host();
    span::open(
        metadata,
        &[
            Some(&method),
            Some(&"client"),
            Some(&method),
            Some(&url.as_str()),
            host.as_ref().map(|host| host as &dyn tracing::Value),
            None,
            None,
        ],
    )
}

pin_project! {
    /// The response future of [`Propagate`]: polled inside the client span, if any, which
    /// records the response's status and closes when the response arrives.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
    }
}

impl<F, R, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.span.in_scope(|| this.inner.poll(cx)));
        if !this.span.is_none() {
            match &result {
                Ok(response) => {
                    let status = response.status();
                    span::record_status(this.span, status, status.is_server_error());
                }
                Err(_) => {
                    this.span.record("otel.status_code", "ERROR");
                }
            }
            *this.span = Span::none();
        }
        Poll::Ready(result)
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("span", &self.span)
            .finish_non_exhaustive()
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
