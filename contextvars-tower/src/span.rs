//! Per-request additions that go inside [`ContextLayer`](crate::ContextLayer): a request span
//! carrying the request's variables, and a variable echoed as a response header.

use std::fmt::{self, Display};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{self, Poll, ready};

use contextvars::ContextVar;
use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// A [`Layer`] that sets a response header to the value a variable has in the request's
/// context when the response is ready, such as the request id, so that a client can quote it.
///
/// Put it inside [`ContextLayer`](crate::ContextLayer) (after it in a `ServiceBuilder`), so
/// that it runs in the request's context. A response that has the header already keeps it;
/// a value that is not a valid header value (control characters) is not echoed; a variable not
/// set in the request's context adds nothing.
///
/// ```
/// use std::convert::Infallible;
///
/// use contextvars::ContextVar;
/// use contextvars_tower::{ContextLayer, EchoHeaderLayer};
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
///
/// let service = ServiceBuilder::new()
///     .layer(ContextLayer::new().header_var(&REQUEST_ID, "x-request-id", |value| {
///         value.and_then(|v| v.to_str().ok()).unwrap_or("generated").to_owned()
///     }))
///     .layer(EchoHeaderLayer::new(&REQUEST_ID, "x-request-id"))
///     .service(service_fn(|_: Request<()>| async {
///         Ok::<_, Infallible>(Response::new(()))
///     }));
///
/// let response = futures::executor::block_on(service.oneshot(Request::new(()))).unwrap();
/// assert_eq!(response.headers()["x-request-id"], "generated");
/// ```
#[derive(Clone)]
pub struct EchoHeaderLayer {
    header: HeaderName,
    read: Arc<ReadHeader>,
}

type ReadHeader = dyn Fn() -> Option<HeaderValue> + Send + Sync;

impl EchoHeaderLayer {
    /// Echoes `var` as the response header `header`.
    ///
    /// # Panics
    /// When `header` is not a valid header name.
    #[must_use]
    #[track_caller]
    pub fn new<T>(var: &'static ContextVar<T>, header: impl AsRef<str>) -> EchoHeaderLayer
    where
        T: Display + Send + Sync + 'static,
    {
        let header = header.as_ref();
        let header = HeaderName::try_from(header)
            .unwrap_or_else(|err| panic!("`{header}` is not a valid header name: {err}"));
        EchoHeaderLayer {
            header,
            read: Arc::new(move || header_value(var)),
        }
    }
}

/// The value of the variable in the current context as a header value, if it is set, its
/// `Display` does not panic, and the text is a valid header value.
fn header_value<T: Display + Send + Sync + 'static>(var: &ContextVar<T>) -> Option<HeaderValue> {
    if !var.is_set() {
        return None;
    }
    let text = var.with(|value| {
        value.and_then(|value| catch_unwind(AssertUnwindSafe(|| value.to_string())).ok())
    })?;
    HeaderValue::try_from(text).ok()
}

impl<S> Layer<S> for EchoHeaderLayer {
    type Service = EchoHeader<S>;

    fn layer(&self, inner: S) -> EchoHeader<S> {
        EchoHeader {
            inner,
            layer: self.clone(),
        }
    }
}

impl fmt::Debug for EchoHeaderLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoHeaderLayer")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// The service made by [`EchoHeaderLayer`].
#[derive(Clone, Debug)]
pub struct EchoHeader<S> {
    inner: S,
    layer: EchoHeaderLayer,
}

impl<S, B, R> Service<Request<B>> for EchoHeader<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = EchoHeaderFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        EchoHeaderFuture {
            inner: self.inner.call(request),
            layer: self.layer.clone(),
        }
    }
}

pin_project! {
    /// The response future of [`EchoHeader`].
    pub struct EchoHeaderFuture<F> {
        #[pin]
        inner: F,
        layer: EchoHeaderLayer,
    }
}

impl<F, R, E> Future for EchoHeaderFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if !response.headers().contains_key(&this.layer.header) {
            if let Some(value) = (this.layer.read)() {
                response
                    .headers_mut()
                    .insert(this.layer.header.clone(), value);
            }
        }
        Poll::Ready(Ok(response))
    }
}

impl<F> fmt::Debug for EchoHeaderFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoHeaderFuture").finish_non_exhaustive()
    }
}

#[cfg(feature = "tracing")]
pub use request_span::{RequestSpan, RequestSpanLayer};

#[cfg(feature = "tracing")]
mod request_span {
    use std::fmt;
    use std::task::{self, Poll};

    use contextvars_tracing::{ContextFields, SpanTemplate};
    use http::Request;
    use tower_layer::Layer;
    use tower_service::Service;
    use tracing::Level;
    use tracing::instrument::{Instrument, Instrumented};

    /// A [`Layer`] that opens a span for each request, named `request`, with the fields
    /// `method`, `path` and the variables chosen with a [`ContextFields`], read when the
    /// request starts: every event logged inside the request, by the handler or by tower-http's
    /// `TraceLayer`, is inside it, so every sink that shows the current span shows them, and an
    /// OpenTelemetry exporter gets them as the request span's attributes.
    ///
    /// Put it inside [`ContextLayer`](crate::ContextLayer) (after it in a `ServiceBuilder`),
    /// which sets the variables from the headers first. The span's fields are declared, so the
    /// values are those the variables have when the request starts: a value set later by the
    /// handler is seen by the log lines (which read the context when they are written) but not
    /// by this span.
    ///
    /// The order with tower-http, outermost first:
    ///
    /// 1. `SetRequestIdLayer` (it generates a missing `x-request-id`), and
    ///    `PropagateRequestIdLayer` (it copies it to the response);
    /// 2. [`ContextLayer`](crate::ContextLayer), which reads the header into a variable;
    /// 3. this layer, and [`EchoHeaderLayer`](crate::EchoHeaderLayer) when the id is made by
    ///    the `ContextLayer` rather than by tower-http;
    /// 4. `TraceLayer`, whose spans and lines are then inside the request span. To have
    ///    `TraceLayer`'s own span carry the variables instead, give it
    ///    `make_span_with(move |request| template.open(…))` with a [`SpanTemplate`] from
    ///    [`ContextFields::span_template`], still inside the `ContextLayer`.
    ///
    /// ```
    /// use std::convert::Infallible;
    ///
    /// use contextvars::ContextVar;
    /// use contextvars_tower::{ContextLayer, RequestSpanLayer};
    /// use contextvars_tracing::ContextFields;
    /// use http::{Request, Response};
    /// use tower::{ServiceBuilder, ServiceExt, service_fn};
    ///
    /// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
    ///
    /// let fields = ContextFields::new().var(&REQUEST_ID);
    /// let service = ServiceBuilder::new()
    ///     .layer(ContextLayer::new().header_var(&REQUEST_ID, "x-request-id", |value| {
    ///         value.and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned()
    ///     }))
    ///     .layer(RequestSpanLayer::new(&fields))
    ///     .service(service_fn(|_: Request<()>| async {
    ///         tracing::info!("handled"); // inside request{method=GET path=/ request_id="…"}
    ///         Ok::<_, Infallible>(Response::new(()))
    ///     }));
    /// # futures::executor::block_on(service.oneshot(Request::new(()))).unwrap();
    /// ```
    #[derive(Clone, Debug)]
    pub struct RequestSpanLayer {
        template: SpanTemplate,
    }

    impl RequestSpanLayer {
        /// Request spans at level `INFO` with the variables of `fields`.
        #[must_use]
        pub fn new(fields: &ContextFields) -> RequestSpanLayer {
            RequestSpanLayer::with_level(fields, Level::INFO)
        }

        /// Request spans at `level` with the variables of `fields`.
        #[must_use]
        pub fn with_level(fields: &ContextFields, level: Level) -> RequestSpanLayer {
            RequestSpanLayer {
                template: fields.span_template(
                    "request",
                    "contextvars_tower",
                    level,
                    &["method", "path"],
                ),
            }
        }
    }

    impl<S> Layer<S> for RequestSpanLayer {
        type Service = RequestSpan<S>;

        fn layer(&self, inner: S) -> RequestSpan<S> {
            RequestSpan {
                inner,
                template: self.template.clone(),
            }
        }
    }

    /// The service made by [`RequestSpanLayer`].
    #[derive(Clone)]
    pub struct RequestSpan<S> {
        inner: S,
        template: SpanTemplate,
    }

    impl<S, B> Service<Request<B>> for RequestSpan<S>
    where
        S: Service<Request<B>>,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = Instrumented<S::Future>;

        fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, request: Request<B>) -> Self::Future {
            let span = self
                .template
                .open(&[&request.method().as_str(), &request.uri().path()]);
            let future = span.in_scope(|| self.inner.call(request));
            future.instrument(span)
        }
    }

    impl<S: fmt::Debug> fmt::Debug for RequestSpan<S> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("RequestSpan")
                .field("inner", &self.inner)
                .field("template", &self.template)
                .finish()
        }
    }
}
