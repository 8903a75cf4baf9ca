//! The variables on spans, read when a span is made: spans opened with them as declared
//! fields, and what the span layer shares with them. Needs only `tracing`.

use std::fmt;
use std::sync::{Arc, OnceLock};

use tracing::callsite::{Callsite, Identifier};
use tracing::field::{FieldSet, Value as TracingValue};
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Span};

use crate::fields::{Field, Scalar, Selection, Value, render};

/// A variable's value while a span records it: borrowed from its binding, or the output of its
/// `Display`, rendered here where a panic is caught.
type Held<'a> = Scalar<&'a str, String>;

/// The value of the field before the next one in [`with_values`], with the ones before it.
struct Link<'a> {
    value: Option<Held<'a>>,
    previous: Option<&'a Link<'a>>,
}

/// The values [`with_values`] hands over, one per chosen variable.
pub(crate) type Values<'a> = [Option<&'a dyn TracingValue>];

/// How many variables [`with_values`] hands over without allocating its buffer.
const INLINE: usize = 8;

/// Calls `f` with the value of every chosen variable in the current context, in the order of
/// the selection (`None` for one unbound, or one `skip` rejects), borrowed from the bindings:
/// no string is copied. Each variable is read inside the borrow of the one before it.
pub(crate) fn with_values(
    selection: &Selection,
    skip: &dyn Fn(&Field) -> bool,
    f: &mut dyn FnMut(&Values<'_>),
) {
    fn held(value: Value<'_>) -> Option<Held<'_>> {
        Some(match value {
            Scalar::Str(v) => Scalar::Str(v),
            // OpenTelemetry integers are signed: tracing-opentelemetry writes a u64 as text.
            Scalar::U64(v) => i64::try_from(v).map_or(Scalar::U64(v), Scalar::I64),
            Scalar::I64(v) => Scalar::I64(v),
            Scalar::U128(v) => Scalar::U128(v),
            Scalar::I128(v) => Scalar::I128(v),
            Scalar::F64(v) => Scalar::F64(v),
            Scalar::Bool(v) => Scalar::Bool(v),
            Scalar::Display(v) => Scalar::Display(render(v)?),
        })
    }

    fn as_value<'a>(value: &'a Held<'_>) -> &'a dyn TracingValue {
        match value {
            Scalar::Str(v) => v,
            Scalar::U64(v) => v,
            Scalar::I64(v) => v,
            Scalar::U128(v) => v,
            Scalar::I128(v) => v,
            Scalar::F64(v) => v,
            Scalar::Bool(v) => v,
            Scalar::Display(v) => v,
        }
    }

    /// Reads the variables from `fields` on, each inside the borrow of the one before, then
    /// hands the chain to `done`.
    fn nest(
        selection: &Selection,
        fields: &[Field],
        skip: &dyn Fn(&Field) -> bool,
        previous: Option<&Link<'_>>,
        done: &mut dyn FnMut(Option<&Link<'_>>),
    ) {
        let Some((field, rest)) = fields.split_first() else {
            return done(previous);
        };
        if skip(field) {
            let link = Link {
                value: None,
                previous,
            };
            return nest(selection, rest, skip, Some(&link), done);
        }
        selection.with_value(field, |value| {
            let link = Link {
                value: value.and_then(held),
                previous,
            };
            nest(selection, rest, skip, Some(&link), done);
        });
    }

    fn fill<'a>(mut link: Option<&'a Link<'_>>, refs: &mut [Option<&'a dyn TracingValue>]) {
        for slot in refs.iter_mut().rev() {
            let Some(this) = link else { break };
            *slot = this.value.as_ref().map(as_value);
            link = this.previous;
        }
    }

    let count = selection.fields.len();
    nest(selection, &selection.fields, skip, None, &mut |chain| {
        if count <= INLINE {
            let mut refs: [Option<&dyn TracingValue>; INLINE] = [None; INLINE];
            fill(chain, &mut refs[..count]);
            f(&refs[..count]);
        } else {
            let mut refs: Vec<Option<&dyn TracingValue>> = vec![None; count];
            fill(chain, &mut refs);
            f(&refs);
        }
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
        let mut span = None;
        // Opened while the values are borrowed from their bindings: no string is copied.
        with_values(&self.selection, &|_| false, &mut |vars| {
            let mut values: Vec<Option<&dyn TracingValue>> =
                Vec::with_capacity(self.fixed + vars.len());
            values.extend((0..self.fixed).map(|i| fixed.get(i).copied()));
            values.extend_from_slice(vars);
            span = Some(Span::new(
                self.metadata,
                &self.metadata.fields().value_set_all(&values),
            ));
        });
        span.unwrap_or_else(Span::none)
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
