//! A variable sent back as a response header: [`EchoHeaderLayer`], its service [`EchoHeader`]
//! and its [`ResponseFuture`].

use std::fmt::{self, Display};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
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
/// use http::{HeaderName, Request, Response};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
/// const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
///
/// let service = ServiceBuilder::new()
///     .layer(ContextLayer::new().header_var(&REQUEST_ID, X_REQUEST_ID, |value| {
///         value.and_then(|v| v.to_str().ok()).unwrap_or("generated").to_owned()
///     }))
///     .layer(EchoHeaderLayer::new(&REQUEST_ID, X_REQUEST_ID))
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
    /// The variable itself: a copy per request costs no reference count.
    var: &'static dyn Echo,
}

/// A variable whose value can be sent as a header value.
trait Echo: Send + Sync {
    fn header_value(&self) -> Option<HeaderValue>;
}

impl<T: Display + Send + Sync + 'static> Echo for ContextVar<T> {
    fn header_value(&self) -> Option<HeaderValue> {
        header_value(self)
    }
}

impl EchoHeaderLayer {
    /// Echoes `var` as the response header `header`.
    #[must_use]
    pub fn new<T>(var: &'static ContextVar<T>, header: HeaderName) -> EchoHeaderLayer
    where
        T: Display + Send + Sync + 'static,
    {
        EchoHeaderLayer { header, var }
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

crate::accessors!(EchoHeader);

impl<S, B, R> Service<Request<B>> for EchoHeader<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ResponseFuture {
            inner: self.inner.call(request),
            layer: self.layer.clone(),
        }
    }
}

pin_project! {
    /// The response future of [`EchoHeader`].
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        layer: EchoHeaderLayer,
    }
}

impl<F, R, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if !response.headers().contains_key(&this.layer.header) {
            if let Some(value) = this.layer.var.header_value() {
                response
                    .headers_mut()
                    .insert(this.layer.header.clone(), value);
            }
        }
        Poll::Ready(Ok(response))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("header", &self.layer.header)
            .finish_non_exhaustive()
    }
}
