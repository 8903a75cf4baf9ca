//! W3C trace context at the edge, through an OpenTelemetry propagator (feature
//! `opentelemetry`): what [`ContextLayer::propagator`](crate::ContextLayer::propagator)
//! extracts, and what [`PropagateLayer::propagator`](crate::PropagateLayer::propagator)
//! injects.

use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Request};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub(crate) type SharedPropagator = Arc<dyn TextMapPropagator + Send + Sync>;

/// The OpenTelemetry context that [`ContextLayer::propagator`](crate::ContextLayer::propagator)
/// extracted from a request's headers (the caller's span context, and what else its propagator
/// reads), put in the request's extensions: the parent of the
/// [`RequestSpan`](crate::request_span::RequestSpan), and of a span of your own, such as
/// tower-http's `TraceLayer`'s (`span.set_parent(remote.get().clone())`).
#[derive(Clone, Debug)]
pub struct RemoteContext(opentelemetry::Context);

impl RemoteContext {
    /// The extracted context.
    #[must_use]
    pub fn get(&self) -> &opentelemetry::Context {
        &self.0
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // Propagators write token keys and visible ASCII values; anything else is left out.
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(key), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

/// Extracts with `propagator` into the request's extensions, and makes the result what
/// `context` carries as OpenTelemetry's current context (when that is carried at all).
pub(crate) fn extract<B>(
    propagator: &SharedPropagator,
    request: &mut Request<B>,
    context: &mut contextvars::Context,
) {
    let remote = propagator.extract_with_context(
        &opentelemetry::Context::new(),
        &HeaderExtractor(request.headers()),
    );
    context.set_companion_state::<contextvars_opentelemetry::CurrentContext>(Some(remote.clone()));
    request.extensions_mut().insert(RemoteContext(remote));
}

/// Runs inside the request's context: sets the propagated variables that a
/// `BaggagePropagator` in the propagator extracted.
pub(crate) fn apply_baggage(extensions: &Extensions) {
    if let Some(remote) = extensions.get::<RemoteContext>() {
        contextvars_opentelemetry::apply(&remote.0);
    }
}

/// Parents `span` on the remote context in `extensions`, if any.
pub(crate) fn set_remote_parent(span: &Span, extensions: &Extensions) {
    if let Some(remote) = extensions.get::<RemoteContext>() {
        // Fails only when no OpenTelemetry layer sees the span: nothing to parent then.
        let _ = span.set_parent(remote.0.clone());
    }
}

/// Writes `span`'s OpenTelemetry context (the current span's, when `span` is disabled) into
/// `headers` with `propagator`.
pub(crate) fn inject(propagator: &SharedPropagator, span: &Span, headers: &mut HeaderMap) {
    let cx = if span.is_disabled() {
        Span::current().context()
    } else {
        span.context()
    };
    propagator.inject_context(&cx, &mut HeaderInjector(headers));
}
