//! The service: each request's future polled inside the request's own context.

use std::fmt;
use std::sync::Arc;
use std::task::{self, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::body::{ContextBody, ResponseFuture};
use crate::layer::Config;

/// The service made by [`ContextLayer`](crate::ContextLayer): calls the inner service and
/// polls its future, then the response body, inside the request's own context.
#[derive(Clone)]
pub struct ContextService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> ContextService<S> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> ContextService<S> {
        ContextService { inner, config }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ContextService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ContextBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> ResponseFuture<S::Future> {
        let mut context = self.config.request_context();
        let inner = &mut self.inner;
        let config = &self.config;
        // The inner `call` runs in the request's context too: services that do work before
        // returning their future see the request's values.
        let future = context.run(|| {
            config.start_request(request.headers());
            inner.call(request)
        });
        ResponseFuture::new(future, context)
    }
}

impl<S: fmt::Debug> fmt::Debug for ContextService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextService")
            .field("inner", &self.inner)
            .field("layer", &self.config)
            .finish()
    }
}
