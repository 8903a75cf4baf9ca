//! A span per request that every sink understands: [`RequestSpanLayer`], its service
//! [`RequestSpan`], its [`ResponseFuture`] and the [`ResponseBody`] that keeps the span
//! current while the body streams.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{self, Poll, ready};

use http::{Extensions, Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use tracing::{Level, Metadata, Span};

use crate::span::{self, Shape};

/// The fields of a request span, in OpenTelemetry's HTTP server conventions.
const FIELDS: &[&str] = &[
    "otel.name",
    "otel.kind",
    "http.request.method",
    "url.path",
    "http.route",
    "http.response.status_code",
    "otel.status_code",
];

/// Reads the matched route from a request's extensions, such as axum's `MatchedPath`.
pub type RouteFn = fn(&Extensions) -> Option<&str>;

/// A [`Layer`] that opens a span for each request, in OpenTelemetry's HTTP server conventions,
/// kept current while the handler runs and while the response body streams, and closed when
/// the body ends.
///
/// The span is named `request` (see [`name`](Self::name)), with target `contextvars_tower`
/// (see [`target`](Self::target): give your application's, so that `RUST_LOG=warn,app=info`
/// keeps it) at level `INFO` (see [`level`](Self::level)). Its fields:
/// `otel.name` (`GET /users/{id}`: the method and the route, or the method alone),
/// `otel.kind = "server"`, `http.request.method`, `url.path`, `http.route` when
/// [`route`](Self::route) finds one, `http.response.status_code` when the response is ready,
/// and `otel.status_code = "ERROR"` on a 5xx response or a service error. tracing-opentelemetry
/// exports them as a server span. With feature `opentelemetry` and a
/// `ContextLayer::propagator` outside it, the span's
/// OpenTelemetry parent is the caller's `traceparent`.
///
/// The request's variables are not fields of this span: `contextvars_tracing`'s span layer
/// records them on every span, this one included, so each appears once.
///
/// Put it inside [`ContextLayer`](crate::ContextLayer) (after it in a `ServiceBuilder`),
/// which sets the variables and extracts the remote parent first. The order with tower-http,
/// outermost first: `SetRequestIdLayer` and `PropagateRequestIdLayer`; `ContextLayer`; this
/// layer and [`EchoHeaderLayer`](crate::EchoHeaderLayer); `TraceLayer`, whose own span and
/// events are then inside this span.
///
/// ```
/// use std::convert::Infallible;
///
/// use contextvars::ContextVar;
/// use contextvars_tower::{ContextLayer, RequestSpanLayer};
/// use http::{HeaderName, Request, Response};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tracing::Level;
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
///
/// let service = ServiceBuilder::new()
///     .layer(ContextLayer::new().header_var(
///         &REQUEST_ID,
///         HeaderName::from_static("x-request-id"),
///         |value| value.and_then(|v| v.to_str().ok()).map(str::to_owned),
///     ))
///     .layer(RequestSpanLayer::new().target("my_app").level(Level::DEBUG))
///     .service(service_fn(|_: Request<()>| async {
///         tracing::info!("handled"); // inside request{otel.kind="server" …}
///         Ok::<_, Infallible>(Response::new(()))
///     }));
/// # futures::executor::block_on(service.oneshot(Request::new(()))).unwrap();
/// ```
#[derive(Clone)]
pub struct RequestSpanLayer {
    shape: Shape,
    route: Option<RouteFn>,
    metadata: Arc<OnceLock<&'static Metadata<'static>>>,
}

impl RequestSpanLayer {
    /// Spans named `request`, target `contextvars_tower`, level `INFO`, no route.
    #[must_use]
    pub fn new() -> RequestSpanLayer {
        RequestSpanLayer {
            shape: Shape {
                name: "request",
                target: "contextvars_tower",
                level: Level::INFO,
            },
            route: None,
            metadata: Arc::default(),
        }
    }

    /// The spans' name.
    #[must_use]
    pub fn name(mut self, name: &'static str) -> RequestSpanLayer {
        self.shape.name = name;
        self.metadata = Arc::default();
        self
    }

    /// The spans' target, which filters match: `module_path!()` or your crate's name.
    #[must_use]
    pub fn target(mut self, target: &'static str) -> RequestSpanLayer {
        self.shape.target = target;
        self.metadata = Arc::default();
        self
    }

    /// The spans' level.
    #[must_use]
    pub fn level(mut self, level: Level) -> RequestSpanLayer {
        self.shape.level = level;
        self.metadata = Arc::default();
        self
    }

    /// Finds the route the router matched in the request's extensions, for `http.route` and the
    /// span's `otel.name`. With axum, inside the router (`Router::layer`):
    /// `.route(|extensions| extensions.get::<MatchedPath>().map(MatchedPath::as_str))`.
    #[must_use]
    pub fn route(mut self, route: RouteFn) -> RequestSpanLayer {
        self.route = Some(route);
        self
    }

    fn metadata(&self) -> &'static Metadata<'static> {
        self.metadata
            .get_or_init(|| span::metadata(&self.shape, FIELDS))
    }
}

impl Default for RequestSpanLayer {
    fn default() -> RequestSpanLayer {
        RequestSpanLayer::new()
    }
}

impl fmt::Debug for RequestSpanLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSpanLayer")
            .field("name", &self.shape.name)
            .field("target", &self.shape.target)
            .field("level", &self.shape.level)
            .field("route", &self.route.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RequestSpanLayer {
    type Service = RequestSpan<S>;

    fn layer(&self, inner: S) -> RequestSpan<S> {
        RequestSpan {
            inner,
            metadata: self.metadata(),
            route: self.route,
        }
    }
}

/// The service made by [`RequestSpanLayer`].
#[derive(Clone)]
pub struct RequestSpan<S> {
    inner: S,
    metadata: &'static Metadata<'static>,
    route: Option<RouteFn>,
}

crate::accessors!(RequestSpan);

impl<S> RequestSpan<S> {
    fn open<B>(&self, request: &Request<B>) -> Span {
        let method = request.method().as_str();
        let route = self.route.and_then(|route| route(request.extensions()));
        let name = match route {
            Some(route) => format!("{method} {route}"),
            None => method.to_owned(),
        };
        let span = span::open(
            self.metadata,
            &[
                Some(&name.as_str()),
                Some(&"server"),
                Some(&method),
                Some(&request.uri().path()),
                route.as_ref().map(|route| route as &dyn tracing::Value),
                None,
                None,
            ],
        );
        #[cfg(feature = "opentelemetry")]
        crate::otel::set_remote_parent(&span, request.extensions());
        span
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestSpan<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> ResponseFuture<S::Future> {
        let span = self.open(&request);
        let inner = span.in_scope(|| self.inner.call(request));
        ResponseFuture {
            inner,
            span: Some(span),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for RequestSpan<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSpan")
            .field("inner", &self.inner)
            .field("name", &self.metadata.name())
            .field("target", &self.metadata.target())
            .field("level", self.metadata.level())
            .field("route", &self.route.is_some())
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The response future of [`RequestSpan`]: polled inside the request span, which it hands
    /// to the response body.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Option<Span>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let span = this
            .span
            .take()
            .expect("ResponseFuture polled after completion");
        let result = match span.in_scope(|| this.inner.poll(cx)) {
            Poll::Ready(result) => result,
            Poll::Pending => {
                *this.span = Some(span);
                return Poll::Pending;
            }
        };
        Poll::Ready(match result {
            Ok(response) => {
                let status = response.status();
                span::record_status(&span, status, status.is_server_error());
                Ok(response.map(|inner| ResponseBody {
                    inner,
                    span: Some(span),
                }))
            }
            Err(err) => {
                span.record("otel.status_code", "ERROR");
                Err(err)
            }
        })
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The response body of [`RequestSpan`]: every frame is produced inside the request span,
    /// which closes when the body ends (its last frame, an error, or being dropped).
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        span: Option<Span>,
    }
}

impl<B> ResponseBody<B> {
    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The wrapped body, mutably.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    /// The wrapped body, unwrapped; the span closes.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut task::Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let Some(span) = this.span.as_ref() else {
            return this.inner.poll_frame(cx);
        };
        let frame = ready!(span.in_scope(|| this.inner.poll_frame(cx)));
        let ended = match &frame {
            None => true,
            Some(Err(_)) => {
                span.record("otel.status_code", "ERROR");
                true
            }
            Some(Ok(_)) => false,
        };
        if ended {
            *this.span = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: fmt::Debug> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .field("span", &self.span)
            .finish()
    }
}
