//! The variables on spans: a layer that records them on every new span, and spans opened with
//! them as declared fields.

use std::fmt;
use std::sync::{Arc, OnceLock};

use tracing::callsite::{Callsite, Identifier};
use tracing::field::{FieldSet, Value as TracingValue};
use tracing::metadata::Kind;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Level, Metadata, Span, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::fields::{Selection, Value, render};

/// A [`Layer`] that records the chosen variables bound in the current context on every span
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
/// [`SpanTemplate`], a request span) is left to record it: each variable appears once per span.
///
/// The values are read once, when the span is created, in the context of the code that
/// creates it: a later `set` does not change the span (a log event's own variables, written by
/// [`ContextFields`](crate::ContextFields), are read when the event is logged). A span
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
///     .with(tracing_subscriber::fmt::layer().event_format(fields.clone()))
///     .with(fields.span_layer());
/// tracing::subscriber::with_default(subscriber, || {
///     let _id = REQUEST_ID.set("r-1".into());
///     let span = tracing::info_span!("load_user"); // carries request_id=r-1
///     let _entered = span.enter();
///     tracing::info!("loaded");
/// });
/// ```
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

/// How many variables the span layer records without allocating its buffers.
const INLINE: usize = 8;

impl ContextSpanLayer {
    /// Reads the variables into `values` and records those bound on span `id`, except the ones
    /// the span declares itself; `refs` is the buffer of the record, as long as `values`.
    fn record<'v>(
        &self,
        attrs: &Attributes<'_>,
        id: &Id,
        dispatch: &Dispatch,
        values: &'v mut [Option<OwnedValue>],
        refs: &mut [Option<&'v dyn TracingValue>],
    ) {
        read_values_into(&self.selection, values);
        // A span that declares a variable's field itself (a span template's, a request
        // span's) records it there: once per span.
        let declared = attrs.metadata().fields();
        for (value, field) in values.iter_mut().zip(&self.selection.fields) {
            if value.is_some() && declared.field(&*field.name).is_some() {
                *value = None;
            }
        }
        if values.iter().all(Option::is_none) {
            return;
        }
        for (slot, value) in refs.iter_mut().zip(values.iter()) {
            *slot = value.as_ref().map(OwnedValue::as_value);
        }
        dispatch.record(id, &Record::new(&self.fields.value_set_all(refs)));
    }
}

impl<S: Subscriber> Layer<S> for ContextSpanLayer {
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        let Some(dispatch) = self
            .dispatch
            .get()
            .and_then(tracing::dispatcher::WeakDispatch::upgrade)
        else {
            return;
        };
        // Up to `INLINE` variables are read and recorded with no allocation but their strings.
        let count = self.selection.fields.len();
        if count <= INLINE {
            let mut values: [Option<OwnedValue>; INLINE] = Default::default();
            let mut refs: [Option<&dyn TracingValue>; INLINE] = [None; INLINE];
            self.record(
                attrs,
                id,
                &dispatch,
                &mut values[..count],
                &mut refs[..count],
            );
        } else {
            let mut values: Vec<Option<OwnedValue>> = (0..count).map(|_| None).collect();
            let mut refs: Vec<Option<&dyn TracingValue>> = vec![None; count];
            self.record(attrs, id, &dispatch, &mut values, &mut refs);
        }
    }
}

impl fmt::Debug for ContextSpanLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextSpanLayer")
            .field("fields", &self.selection)
            .finish_non_exhaustive()
    }
}

/// A value read from a variable, owned so that it outlives the variable's borrow.
pub(crate) enum OwnedValue {
    Str(String),
    U64(u64),
    I64(i64),
    U128(u128),
    I128(i128),
    F64(f64),
    Bool(bool),
}

impl OwnedValue {
    pub(crate) fn as_value(&self) -> &dyn TracingValue {
        match self {
            OwnedValue::Str(v) => v,
            OwnedValue::U64(v) => v,
            OwnedValue::I64(v) => v,
            OwnedValue::U128(v) => v,
            OwnedValue::I128(v) => v,
            OwnedValue::F64(v) => v,
            OwnedValue::Bool(v) => v,
        }
    }
}

/// The value of every chosen variable in the current context, in the order of the selection.
/// `Display` runs here, where its panic is caught, and not in the layers that record it.
pub(crate) fn read_values(selection: &Selection) -> Vec<Option<OwnedValue>> {
    let mut values: Vec<Option<OwnedValue>> = Vec::with_capacity(selection.fields.len());
    values.resize_with(selection.fields.len(), || None);
    read_values_into(selection, &mut values);
    values
}

/// [`read_values`] into `values`, as long as the selection.
fn read_values_into(selection: &Selection, values: &mut [Option<OwnedValue>]) {
    let mut index = 0;
    let mut fields = selection.fields.iter();
    selection.for_each(|field, value| {
        // `for_each` skips unset variables: find this one's slot.
        for candidate in fields.by_ref() {
            if std::ptr::eq(candidate, field) {
                break;
            }
            index += 1;
        }
        values[index] = match value {
            Value::Str(v) => Some(OwnedValue::Str(v.to_owned())),
            // OpenTelemetry integers are signed: tracing-opentelemetry writes a u64 as text.
            Value::U64(v) => Some(i64::try_from(v).map_or(OwnedValue::U64(v), OwnedValue::I64)),
            Value::I64(v) => Some(OwnedValue::I64(v)),
            Value::U128(v) => Some(OwnedValue::U128(v)),
            Value::I128(v) => Some(OwnedValue::I128(v)),
            Value::F64(v) => Some(OwnedValue::F64(v)),
            Value::Bool(v) => Some(OwnedValue::Bool(v)),
            Value::Display(v) => render(v).map(OwnedValue::Str),
        };
        index += 1;
    });
}

/// A callsite made at run time, for field names known only then (the variables' names).
/// Made once per layer or request-span configuration and never freed, as tracing's own
/// callsites are statics.
pub(crate) struct RuntimeCallsite {
    metadata: OnceLock<Metadata<'static>>,
}

impl Callsite for RuntimeCallsite {
    fn set_interest(&self, _interest: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        self.metadata
            .get()
            .expect("the metadata is set right after the callsite is made")
    }
}

impl RuntimeCallsite {
    fn static_metadata(&'static self) -> &'static Metadata<'static> {
        Callsite::metadata(self)
    }
}

/// Metadata of a callsite made at run time, with the fields `fixed` then `names`.
pub(crate) fn field_set(
    name: &'static str,
    target: &'static str,
    level: Level,
    kind: Kind,
    fixed: &[&'static str],
    names: impl IntoIterator<Item = String>,
) -> &'static RuntimeCallsite {
    let names: Vec<&'static str> = fixed
        .iter()
        .copied()
        .chain(
            names
                .into_iter()
                .map(|name| &*Box::leak(name.into_boxed_str())),
        )
        .collect();
    let names: &'static [&'static str] = Box::leak(names.into_boxed_slice());
    let callsite: &'static RuntimeCallsite = Box::leak(Box::new(RuntimeCallsite {
        metadata: OnceLock::new(),
    }));
    let metadata = Metadata::new(
        name,
        target,
        level,
        None,
        None,
        None,
        FieldSet::new(names, Identifier(callsite)),
        kind,
    );
    let _ = callsite.metadata.set(metadata);
    callsite
}

/// Opens spans that declare the chosen variables as fields, read when each span is opened:
/// made by [`ContextFields::span_template`](crate::ContextFields::span_template).
///
/// Since the fields are declared, every sink shows them, including those that keep only a
/// span's declared fields (such as the bunyan formatter's storage layer). Cloning is cheap.
///
/// ```
/// use contextvars::ContextVar;
/// use contextvars_tracing::ContextFields;
/// use tracing::Level;
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
///
/// let template = ContextFields::new()
///     .var(&REQUEST_ID)
///     .span_template("job", "my_app::jobs", Level::INFO, &["queue"]);
/// let _id = REQUEST_ID.set("r-1".into());
/// let span = template.open(&[&"emails"]); // job{queue="emails" request_id="r-1"}
/// # drop(span);
/// ```
#[derive(Clone)]
pub struct SpanTemplate {
    selection: Arc<Selection>,
    metadata: &'static Metadata<'static>,
    fixed: usize,
}

impl SpanTemplate {
    pub(crate) fn new(
        selection: Selection,
        name: &'static str,
        target: &'static str,
        level: Level,
        fixed: &[&'static str],
    ) -> SpanTemplate {
        let names = selection.fields.iter().map(|field| field.name.to_string());
        let callsite = field_set(name, target, level, Kind::SPAN, fixed, names);
        tracing::callsite::register(callsite);
        let metadata = callsite.static_metadata();
        SpanTemplate {
            selection: Arc::new(selection),
            metadata,
            fixed: fixed.len(),
        }
    }

    /// Opens a span, with `fixed` as the values of the template's fixed fields (missing ones
    /// are left empty, extra ones ignored) and the chosen variables bound in the current
    /// context; a disabled span when the subscriber does not want it.
    #[must_use]
    pub fn open(&self, fixed: &[&dyn TracingValue]) -> Span {
        let enabled = tracing::level_filters::LevelFilter::current() >= *self.metadata.level()
            && tracing::dispatcher::get_default(|dispatch| dispatch.enabled(self.metadata));
        if !enabled {
            return Span::none();
        }
        let vars = read_values(&self.selection);
        let mut values: Vec<Option<&dyn TracingValue>> =
            Vec::with_capacity(self.fixed + vars.len());
        values.extend((0..self.fixed).map(|i| fixed.get(i).copied()));
        values.extend(
            vars.iter()
                .map(|value| value.as_ref().map(OwnedValue::as_value)),
        );
        Span::new(
            self.metadata,
            &self.metadata.fields().value_set_all(&values),
        )
    }
}

impl fmt::Debug for SpanTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanTemplate")
            .field("name", &self.metadata.name())
            .field("fields", &self.metadata.fields())
            .finish_non_exhaustive()
    }
}
