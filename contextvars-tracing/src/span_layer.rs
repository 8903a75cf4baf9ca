//! A layer that records the chosen variables on every new span.

use std::fmt;
use std::sync::OnceLock;

use tracing::field::FieldSet;
use tracing::metadata::Kind;
use tracing::span::{Attributes, Id, Record};
use tracing::{Dispatch, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::fields::{Field, Selection};
use crate::span::{field_set, with_values};

/// A [`Layer`] (feature `subscriber`) that records the chosen variables bound in the current context on every span
/// when it is created, as if the span had declared them as fields and recorded them: made by
/// [`ContextFields::span_layer`](crate::ContextFields::span_layer).
///
/// Every layer that handles `Span::record` sees them: tracing-subscriber's text and JSON
/// formats show them with the span's other fields, and tracing-opentelemetry turns them into
/// attributes of the exported span, which is what OpenTelemetry's baggage span processor does
/// in other languages. Unsigned numbers that fit an `i64` are recorded as signed, which
/// OpenTelemetry keeps as integers.
///
/// Add it last, after the layers that should see the values (`registry().with(fmt).with(otel)
/// .with(spans)`): a layer learns of a span before it is given the span's records only if it
/// comes earlier.
///
/// A span that declares a field of a variable's name itself (one opened from a
/// [`SpanTemplate`](crate::SpanTemplate), a request span) is left to record it: each variable appears once per span.
///
/// The values are read once, when the span is created, in the context of the code that
/// creates it: a later `set` does not change the span (a log event's own variables, written by
/// [`ContextFormat`](crate::ContextFormat), are read when the event is logged). A span
/// created outside any context where the variables are set gets nothing.
///
/// ```
/// use contextvars::ContextVar;
/// use contextvars_tracing::ContextFields;
/// use tracing_subscriber::prelude::*;
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
///
/// let fields = ContextFields::new().var(&REQUEST_ID);
/// let subscriber = tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer().event_format(fields.format()))
///     .with(fields.span_layer());
/// tracing::subscriber::with_default(subscriber, || {
///     let _id = REQUEST_ID.set("r-1".into());
///     let span = tracing::info_span!("load_user"); // carries request_id=r-1
///     let _entered = span.enter();
///     tracing::info!("loaded");
/// });
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "subscriber")))]
pub struct ContextSpanLayer {
    selection: Selection,
    fields: &'static FieldSet,
    dispatch: OnceLock<tracing::dispatcher::WeakDispatch>,
}

impl ContextSpanLayer {
    pub(crate) fn new(selection: Selection) -> ContextSpanLayer {
        let names = selection.fields.iter().map(|field| field.name.to_string());
        let callsite = field_set(
            "context",
            "contextvars_tracing",
            Level::INFO,
            Kind::SPAN,
            &[],
            names,
        );
        let fields = callsite.static_metadata().fields();
        ContextSpanLayer {
            selection,
            fields,
            dispatch: OnceLock::new(),
        }
    }
}

impl<S: Subscriber> Layer<S> for ContextSpanLayer {
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let Some(dispatch) = self
            .dispatch
            .get()
            .and_then(tracing::dispatcher::WeakDispatch::upgrade)
        else {
            return;
        };
        // A span that declares a variable's field itself (a span template's, a request
        // span's) records it there: once per span.
        let declared = attrs.metadata().fields();
        let skip = |field: &Field| declared.field(&*field.name).is_some();
        // The values are recorded while borrowed from their bindings: no string is copied.
        with_values(&self.selection, &skip, &mut |values| {
            if values.iter().any(Option::is_some) {
                dispatch.record(id, &Record::new(&self.fields.value_set_all(values)));
            }
        });
    }
}

impl fmt::Debug for ContextSpanLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextSpanLayer")
            .field("fields", &self.selection)
            .finish_non_exhaustive()
    }
}
