//! Context variables declared `propagate` as W3C baggage, through OpenTelemetry's
//! propagation API; and OpenTelemetry's current context carried with the variables through
//! every hand-off ([`carry_context`]).
//!
//! [`BaggagePropagator`] is an OpenTelemetry [`TextMapPropagator`]: it writes the variables
//! declared `#[context_var(default = ..., propagate)]` that the current context binds into the
//! `baggage` header of every carrier OpenTelemetry injects into (HTTP headers, gRPC metadata, a
//! job's `HashMap<String, String>`), and reads them back on the other side. It composes with
//! `TraceContextPropagator` in a
//! [`TextMapCompositePropagator`](opentelemetry::propagation::TextMapCompositePropagator), and
//! with the global propagator.
//!
//! ```
//! use std::collections::HashMap;
//!
//! use contextvars::baggage::Accept;
//! use contextvars::context_var;
//! use contextvars_opentelemetry::BaggagePropagator;
//! use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
//! use opentelemetry_sdk::propagation::TraceContextPropagator;
//!
//! #[context_var(default = String::from("none"), propagate = "tenant")]
//! static TENANT: String;
//!
//! // The internal service believes its callers' tenant; a public edge would not.
//! let propagator = TextMapCompositePropagator::new(vec![
//!     Box::new(TraceContextPropagator::new()),
//!     Box::new(BaggagePropagator::new().accept_baggage(Accept::keys(["tenant"]))),
//! ]);
//!
//! // Caller: inside its request, inject into the outgoing carrier.
//! let mut headers = HashMap::new();
//! TENANT.scope("acme".to_owned(), || {
//!     propagator.inject_context(&opentelemetry::Context::new(), &mut headers)
//! });
//! assert_eq!(headers["baggage"], "tenant=acme");
//!
//! // Callee: extract, then run the handler with the variables bound.
//! let otel_cx = propagator.extract(&headers);
//! let mut request = contextvars_opentelemetry::to_context(&otel_cx);
//! assert_eq!(request.run(|| TENANT.get()), "acme");
//! ```
//!
//! # Trust
//!
//! Whoever sends a request writes its baggage. [`BaggagePropagator::new`] therefore reads
//! nothing: give it [`accept_baggage`](BaggagePropagator::accept_baggage) on services that only trusted callers
//! reach, naming the keys they may set. Writing is not affected.
//!
//! # Other baggage in the same header
//!
//! OpenTelemetry's own `BaggagePropagator` writes the `Baggage` of the OpenTelemetry context to
//! the same header. This propagator writes those members too (after its own, dropping any with
//! a key of a propagated variable: such a key carries this context's own value or nothing), so
//! it can replace OpenTelemetry's in the composite or come after it: the last one to write the
//! header wins, and this one never drops the other's members under other keys. Never put
//! OpenTelemetry's baggage propagator *after* this one: it would write the header again with
//! OpenTelemetry's members as they are, a client's member under a propagated key included.
//! Reading leaves the header to OpenTelemetry's propagator as well.
//!
//! Members that are not usable (malformed, not UTF-8, not a valid value of the variable's
//! type, beyond 64 members or 8,192 bytes) are skipped with a `tracing` debug line; the
//! variable keeps its value.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

mod carry;

pub use carry::{CurrentContext, carry_context};

use std::sync::Arc;

use contextvars::baggage::{self, Accept, Baggage, Skipped};
use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};

/// A [`TextMapPropagator`] for the context variables declared `propagate`, as W3C baggage.
///
/// See the [crate documentation](crate) for an example.
#[derive(Clone, Debug)]
pub struct BaggagePropagator {
    accept: Arc<Accept>,
    fields: [String; 1],
}

impl BaggagePropagator {
    /// Writes every propagated variable the current context binds, and reads nothing: the safe
    /// choice for a service whose callers are not trusted.
    #[must_use]
    pub fn new() -> BaggagePropagator {
        BaggagePropagator {
            accept: Arc::new(Accept::none()),
            fields: [baggage::HEADER.to_owned()],
        }
    }

    /// Reads the keys `accept` names from incoming baggage (see [`Accept`]). Only give this
    /// to services that untrusted clients cannot call directly.
    #[must_use]
    pub fn accept_baggage(mut self, accept: Accept) -> BaggagePropagator {
        self.accept = Arc::new(accept);
        self
    }
}

impl Default for BaggagePropagator {
    fn default() -> BaggagePropagator {
        BaggagePropagator::new()
    }
}

/// What [`BaggagePropagator`] read, kept in the OpenTelemetry context until [`apply`].
struct Extracted {
    baggage: Baggage,
    accept: Arc<Accept>,
}

fn log_skipped(skipped: &Skipped) {
    tracing::debug!(target: "contextvars::baggage", "skipped: {skipped}");
}

impl TextMapPropagator for BaggagePropagator {
    /// Writes the propagated variables bound in the current contextvars context, followed by
    /// the members of `cx`'s OpenTelemetry `Baggage` whose keys are not propagated variables'
    /// keys: a member of that `Baggage` under a propagated key (which OpenTelemetry's own
    /// baggage propagator may have filled from a client) never goes out.
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let theirs = cx.baggage();
        let mut foreign = String::new();
        for (key, (value, metadata)) in theirs {
            baggage::push_member(&mut foreign, key.as_str(), value.as_str());
            let metadata = metadata.as_str().trim();
            if !metadata.is_empty() {
                foreign.push(';');
                foreign.push_str(metadata);
            }
        }
        let foreign = (!theirs.is_empty()).then_some(foreign.as_bytes());
        let header = baggage::current_header_with(foreign, log_skipped);
        if !header.is_empty() {
            injector.set(baggage::HEADER, header);
        }
    }

    /// Reads the accepted propagated variables into the returned context; bind them with
    /// [`apply`] or [`to_context`].
    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        if self.accept.is_none() {
            return cx.clone();
        }
        let Some(header) = extractor.get(baggage::HEADER) else {
            return cx.clone();
        };
        let baggage = Baggage::from_header(header.as_bytes(), log_skipped);
        if baggage.is_empty() {
            return cx.clone();
        }
        cx.with_value(Extracted {
            baggage,
            accept: Arc::clone(&self.accept),
        })
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

/// Binds, in the current contextvars context, the variables that a [`BaggagePropagator`]
/// extracted into `cx`; returns how many. Values that do not parse as their variable's type
/// are skipped with a debug line.
///
/// ```
/// use std::collections::HashMap;
///
/// use contextvars::baggage::Accept;
/// use contextvars::{context_var, Context};
/// use contextvars_opentelemetry::BaggagePropagator;
/// use opentelemetry::propagation::TextMapPropagator;
///
/// #[context_var(default = 0, propagate = "attempt")]
/// static ATTEMPT: u32;
///
/// let job_headers = HashMap::from([("baggage".to_owned(), "attempt=3".to_owned())]);
/// let otel_cx = BaggagePropagator::new()
///     .accept_baggage(Accept::all())
///     .extract(&job_headers);
/// Context::new().run(|| {
///     assert_eq!(contextvars_opentelemetry::apply(&otel_cx), 1);
///     assert_eq!(ATTEMPT.get(), 3);
/// });
/// ```
pub fn apply(cx: &Context) -> usize {
    match cx.get::<Extracted>() {
        Some(extracted) => extracted.baggage.apply(&extracted.accept, log_skipped),
        None => 0,
    }
}

/// A new contextvars [`Context`](contextvars::Context) with the variables that a
/// [`BaggagePropagator`] extracted into `cx`: where the request or job runs.
#[must_use]
pub fn to_context(cx: &Context) -> contextvars::Context {
    let mut context = contextvars::Context::new();
    context.run(|| apply(cx));
    context
}
