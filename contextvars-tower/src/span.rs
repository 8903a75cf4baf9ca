//! The spans of the request and client layers: name, target and level chosen at run time,
//! fields following OpenTelemetry's HTTP conventions.
//!
//! tracing's macros need the name, target and level as constants; a layer gets them at run
//! time, so each distinct shape gets a callsite of its own, made once and kept for the rest of
//! the process (as a macro's callsite is a static).

use std::sync::{Mutex, OnceLock, PoisonError};

use tracing::callsite::{Callsite, Identifier};
use tracing::field::{FieldSet, Value};
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Span};

/// What a span looks like: set with the layers' `name`, `target` and `level`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) name: &'static str,
    pub(crate) target: &'static str,
    pub(crate) level: Level,
}

struct RuntimeCallsite(OnceLock<Metadata<'static>>);

impl Callsite for RuntimeCallsite {
    fn set_interest(&self, _interest: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        self.0.get().expect("set as soon as the callsite is made")
    }
}

type Made = (Shape, &'static [&'static str], &'static Metadata<'static>);

/// The metadata of spans of `shape` with `fields`, made on first need.
pub(crate) fn metadata(
    shape: &Shape,
    fields: &'static [&'static str],
) -> &'static Metadata<'static> {
    static MADE: Mutex<Vec<Made>> = Mutex::new(Vec::new());
    let mut made = MADE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, _, metadata)) = made
        .iter()
        .find(|(have, have_fields, _)| have == shape && std::ptr::eq(*have_fields, fields))
    {
        return metadata;
    }
    let callsite: &'static RuntimeCallsite = Box::leak(Box::new(RuntimeCallsite(OnceLock::new())));
    let metadata = Metadata::new(
        shape.name,
        shape.target,
        shape.level,
        None,
        None,
        None,
        FieldSet::new(fields, Identifier(callsite)),
        Kind::SPAN,
    );
    let _ = callsite.0.set(metadata);
    tracing::callsite::register(callsite);
    let metadata: &'static Metadata<'static> = callsite.0.get().expect("just set");
    made.push((shape.clone(), fields, metadata));
    metadata
}

/// A span of `metadata` with `values` for its fields in order (`None`: empty, to record
/// later), child of the current span; a disabled span when no subscriber wants it.
pub(crate) fn open(metadata: &'static Metadata<'static>, values: &[Option<&dyn Value>]) -> Span {
    let enabled = tracing::level_filters::LevelFilter::current() >= *metadata.level()
        && tracing::dispatcher::get_default(|dispatch| dispatch.enabled(metadata));
    if !enabled {
        return Span::none();
    }
    Span::new(metadata, &metadata.fields().value_set_all(values))
}

/// Records the response's status, and an error status when `error`.
pub(crate) fn record_status(span: &Span, status: http::StatusCode, error: bool) {
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if error {
        span.record("otel.status_code", "ERROR");
    }
}
