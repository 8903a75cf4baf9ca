//! The variables on spans, read when a span is made: spans opened with them as declared
//! fields, and what the span layer shares with them. Needs only `tracing`.

use std::fmt;
use std::sync::{Arc, OnceLock};

use tracing::callsite::{Callsite, Identifier};
use tracing::field::{FieldSet, Value as TracingValue};
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Span};

use crate::fields::{OwnedValue, Scalar, Selection};

/// The value of every chosen variable in the current context, in the order of the selection.
/// `Display` runs here, where its panic is caught, and not in the layers that record it.
pub(crate) fn read_values(selection: &Selection) -> Vec<Option<OwnedValue>> {
    let mut values: Vec<Option<OwnedValue>> = Vec::with_capacity(selection.fields.len());
    values.resize_with(selection.fields.len(), || None);
    read_values_into(selection, &mut values);
    values
}

/// [`read_values`] into `values`, as long as the selection.
pub(crate) fn read_values_into(selection: &Selection, values: &mut [Option<OwnedValue>]) {
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
        values[index] = value.to_owned_value().map(|value| match value {
            // OpenTelemetry integers are signed: tracing-opentelemetry writes a u64 as text.
            Scalar::U64(v) => i64::try_from(v).map_or(Scalar::U64(v), Scalar::I64),
            value => value,
        });
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
    pub(crate) fn static_metadata(&'static self) -> &'static Metadata<'static> {
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
/// made by [`ContextFields::span_template`](crate::ContextFields::span_template). Needs only
/// `tracing` (no tracing-subscriber: it works with `default-features = false`).
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
