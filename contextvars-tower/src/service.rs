//! The service: each request's future polled inside the request's own context.

use std::fmt;
use std::sync::Arc;
use std::task::{self, Poll};

use contextvars::{FutureExt, WithContext};
use http::Request;
use tower_service::Service;

use crate::layer::Config;

/// The service made by [`ContextLayer`](crate::ContextLayer): calls the inner service and polls its future inside
/// the request's own context.
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

impl<S, B> Service<Request<B>> for ContextService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = WithContext<S::Future>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> WithContext<S::Future> {
        let mut context = self.config.request_context();
        let inner = &mut self.inner;
        let config = &self.config;
        // The inner `call` runs in the request's context too: services that do work before
        // returning their future see the request's values.
        let future = context.run(|| {
            config.start_request(request.headers());
            inner.call(request)
        });
        future.with_context(context)
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
