//! The event formatter: the wrapped format's line, with the variables spliced in before its
//! end.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::{self, Display};

use tracing::{Event, Level, Subscriber};
#[cfg(feature = "json")]
use tracing_subscriber::fmt::format::Json;
use tracing_subscriber::fmt::format::{Format, Writer};
#[cfg(feature = "json")]
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use contextvars::registry::{self, Registration};
use contextvars::{ContextVar, VarSet};

use crate::fields::{Selection, classify_display};
use crate::{ContextSpanLayer, SpanTemplate, text};
#[cfg(feature = "json")]
use crate::{json, keys};

/// An event formatter that writes the chosen context variables on every line, as text fields
/// or JSON keys; see the [crate documentation](crate).
///
/// Give it to [`tracing_subscriber::fmt::SubscriberBuilder::event_format`] or
/// [`tracing_subscriber::fmt::Layer::event_format`]. The same choice of variables also makes
/// the [span layer](ContextFields::span_layer).
#[derive(Clone)]
pub struct ContextFields<F = Format> {
    inner: F,
    /// `inner` with ANSI colours on, used when the subscriber's writer wants colours.
    coloured: Option<F>,
    pub(crate) selection: Selection,
    output: Output,
    /// The key JSON lines nest the variables under, if any.
    nest: Option<Cow<'static, str>>,
    /// Whether lines carry the current OpenTelemetry span's ids.
    #[cfg(feature = "opentelemetry")]
    trace_ids: bool,
}

#[derive(Clone, Copy, Debug)]
enum Output {
    Text,
    #[cfg(feature = "json")]
    Json,
}

/// An event format that can be asked for ANSI colours, so that [`ContextFields`] keeps them.
///
/// tracing-subscriber hands a formatter a writer that knows whether to colour, and a wrapper
/// cannot pass that on to the format it wraps; it asks for a coloured copy instead.
/// Implemented for every [`Format`] of tracing-subscriber (full, compact, pretty, JSON).
/// Colours then follow the subscriber's setting (`with_ansi`), which wins over a
/// `Format::with_ansi` given to the wrapped format. A format of your own can return `None`
/// (lines are then never coloured) or a copy set to colour.
pub trait Colours: Sized {
    /// A copy that writes ANSI colours, or `None` if the format never colours.
    fn coloured(&self) -> Option<Self>;
}

impl<L: Clone, T: Clone> Colours for Format<L, T> {
    fn coloured(&self) -> Option<Self> {
        Some(self.clone().with_ansi(true))
    }
}

/// What [`ContextFields::skip`] takes: a variable, or the name it was declared with.
pub trait SkipVar {
    /// The variable's name, as declared.
    fn var_name(self) -> &'static str;
}

impl<T> SkipVar for &'static ContextVar<T> {
    fn var_name(self) -> &'static str {
        self.name()
    }
}

impl SkipVar for &'static str {
    fn var_name(self) -> &'static str {
        self
    }
}

impl ContextFields {
    /// No variables yet, around tracing-subscriber's default text format.
    #[must_use]
    pub fn new() -> ContextFields {
        let inner = Format::default();
        ContextFields {
            coloured: inner.coloured(),
            inner,
            selection: Selection::new(),
            output: Output::Text,
            nest: None,
            #[cfg(feature = "opentelemetry")]
            trace_ids: false,
        }
    }
}

impl Default for ContextFields {
    fn default() -> ContextFields {
        ContextFields::new()
    }
}

impl<F> ContextFields<F> {
    /// The same variables around another text format, such as
    /// `tracing_subscriber::fmt::format().compact()`, or another JSON format after
    /// [`json`](Self::json), such as `tracing_subscriber::fmt::format().json().flatten_event(true)`.
    #[must_use]
    pub fn with_format<G: Colours>(self, inner: G) -> ContextFields<G> {
        ContextFields {
            coloured: inner.coloured(),
            inner,
            selection: self.selection,
            output: self.output,
            nest: self.nest,
            #[cfg(feature = "opentelemetry")]
            trace_ids: self.trace_ids,
        }
    }

    /// Writes JSON lines: tracing-subscriber's JSON format (`timestamp`, `level`, `fields`,
    /// `target`), with every chosen variable bound in the current context as a key of the
    /// line's object, named after the variable.
    ///
    /// Each variable appears once per line: this format leaves out tracing-subscriber's
    /// current span (`span`) and span list (`spans`), where the [span
    /// layer](Self::span_layer) would repeat the variables. To keep them, give the format
    /// back with [`with_format`](Self::with_format):
    /// `.json().with_format(tracing_subscriber::fmt::format().json().with_current_span(true)
    /// .with_span_list(true))` (the variables then also appear there when the span layer
    /// records them). With OpenTelemetry, `trace_ids` (feature `opentelemetry`) names the span
    /// a line was logged in.
    ///
    /// Strings become JSON strings, numbers and `bool`s JSON numbers and booleans, other
    /// values the JSON string of their `Display`. Use tracing-subscriber's JSON field
    /// formatter too (`tracing_subscriber::fmt().json()` sets it), so that span fields are
    /// JSON.
    ///
    /// # Panics
    /// When a chosen variable's key is one the format writes itself (`timestamp`, `level`,
    /// `fields`, `message`, `target`, `span`, `spans`, `filename`, `line_number`,
    /// `threadName`, `threadId`, `thread_name`, `thread_id`) and the variables are not
    /// [nested](Self::nest_under), or when two variables share a key: every line is an object
    /// with unique keys whose `level`, `target`, `timestamp` and `fields` are the event's own.
    /// The message names the variable and the fix (`var_named`, `nest_under` or `skip`). The
    /// same check runs for each variable chosen after this call.
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    #[must_use]
    #[track_caller]
    pub fn json(self) -> ContextFields<Format<Json, SystemTime>> {
        let mut fields = self.with_format(
            tracing_subscriber::fmt::format()
                .json()
                .with_current_span(false)
                .with_span_list(false),
        );
        fields.output = Output::Json;
        fields.checked()
    }

    /// Refuses JSON keys that would collide (see [`json`](Self::json)).
    #[track_caller]
    #[cfg_attr(not(feature = "json"), allow(unused_mut))]
    fn checked(mut self) -> ContextFields<F> {
        #[cfg(feature = "json")]
        if let Output::Json = self.output {
            keys::check_json_keys(&mut self.selection.fields, self.nest.as_deref());
        }
        self
    }

    /// In JSON lines, puts the variables in one object under `key` (`"context":{…}`) instead
    /// of at the top level; the key is left out when no variable is set. Text lines are not
    /// affected.
    ///
    /// # Panics
    /// In JSON lines, when `key` is one the JSON format writes itself (see
    /// [`json`](Self::json)), such as `fields`.
    #[must_use]
    #[track_caller]
    pub fn nest_under(mut self, key: impl Into<Cow<'static, str>>) -> ContextFields<F> {
        self.nest = Some(key.into());
        self.checked()
    }

    /// Also writes the ids of the OpenTelemetry span the event is logged in: keys `trace_id`
    /// (32 hex digits) and `span_id` (16) of JSON lines, at the top level before the
    /// variables, and fields ` trace_id=… span_id=…` at the end of text lines; nothing where
    /// no valid span is current.
    ///
    /// The span is the one current in OpenTelemetry's context, which tracing-opentelemetry's
    /// layer sets to the entered tracing span's (its default "context activation"): with
    /// spans going to OpenTelemetry through tracing-opentelemetry, a line carries the ids of
    /// the span it was logged in, the ones that span is exported with.
    #[cfg(feature = "opentelemetry")]
    #[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
    #[must_use]
    pub fn trace_ids(mut self) -> ContextFields<F> {
        self.trace_ids = true;
        self
    }

    /// Adds `var`, named after the variable in lower case (`REQUEST_ID` gives `request_id`),
    /// on lines logged where it is set. Its default does not count: outside a request, a
    /// request id is not written.
    #[must_use]
    #[track_caller]
    pub fn var<T>(self, var: &'static ContextVar<T>) -> ContextFields<F>
    where
        T: Display + Send + Sync + 'static,
    {
        let name = var.name().to_lowercase();
        self.var_named(name, var)
    }

    /// Adds `var`, written under `name`.
    #[must_use]
    #[track_caller]
    pub fn var_named<T>(
        mut self,
        name: impl Into<Cow<'static, str>>,
        var: &'static ContextVar<T>,
    ) -> ContextFields<F>
    where
        T: Display + Send + Sync + 'static,
    {
        self.selection.push_typed(name.into(), var);
        self.checked()
    }

    /// Adds the declared variables of `vars`, such as `module_vars!(crate::request)` or a
    /// set made from [`registry::all`] filtered by module, each under its name in lower case,
    /// in the order of their names.
    #[must_use]
    #[track_caller]
    pub fn vars(mut self, vars: &VarSet) -> ContextFields<F> {
        let mut vars: Vec<&'static Registration> = vars.iter().collect();
        vars.sort_by_key(|reg| (reg.name(), reg.module_path()));
        for reg in vars {
            self.selection.push_registered(reg);
        }
        self.checked()
    }

    /// Adds every variable declared with `#[context_var]` in the program.
    #[must_use]
    #[track_caller]
    pub fn registered(self) -> ContextFields<F> {
        let all = VarSet::new(registry::all().collect());
        self.vars(&all)
    }

    /// Never writes `var` (a secret, such as a session token), whether it was chosen before
    /// this call or is chosen after it, by any of the methods above: give the variable
    /// (`.skip(&SESSION_TOKEN)`) or its declared name (`.skip("SESSION_TOKEN")`, for a
    /// variable of another crate). Matches by the variable's name, so every variable of that
    /// name stays out.
    #[must_use]
    pub fn skip(mut self, var: impl SkipVar) -> ContextFields<F> {
        self.selection.secret(var.var_name());
        self
    }

    /// Lets declared variables of type `T` or `Option<T>` be written with `T`'s `Display`
    /// (strings, numbers, `bool` and `char` are known already).
    #[must_use]
    pub fn display_type<T: Display + Send + Sync + 'static>(mut self) -> ContextFields<F> {
        self.selection.classifiers.push(classify_display::<T>);
        self
    }

    /// A [`tracing_subscriber::Layer`] that records the same variables on every new span;
    /// see [`ContextSpanLayer`].
    #[must_use]
    pub fn span_layer(&self) -> ContextSpanLayer {
        ContextSpanLayer::new(self.selection.clone())
    }

    /// A [`SpanTemplate`] that opens spans named `name`, with target `target` and level
    /// `level`, that declare the fields `fixed` and then the chosen variables.
    #[must_use]
    pub fn span_template(
        &self,
        name: &'static str,
        target: &'static str,
        level: Level,
        fixed: &[&'static str],
    ) -> SpanTemplate {
        SpanTemplate::new(self.selection.clone(), name, target, level, fixed)
    }
}

impl<S, N, F> FormatEvent<S, N> for ContextFields<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        #[cfg(feature = "tokio")]
        crate::unhooked::check(event.metadata());
        let ansi = writer.has_ansi_escapes();
        let inner = match (self.output, &self.coloured) {
            (Output::Text, Some(coloured)) if ansi => coloured,
            _ => &self.inner,
        };
        with_line_buffer(|line| {
            inner.format_event(ctx, Writer::new(line), event)?;
            #[cfg_attr(not(feature = "json"), allow(unused_variables))]
            let Some((at, empty)) = splice_point(line, self.output) else {
                return writer.write_str(line);
            };
            writer.write_str(&line[..at])?;
            match self.output {
                Output::Text => {
                    text::write_fields(&self.selection, &mut writer, ansi)?;
                    #[cfg(feature = "opentelemetry")]
                    if self.trace_ids {
                        crate::trace_ids::write_text(&mut writer, ansi)?;
                    }
                }
                #[cfg(feature = "json")]
                Output::Json => {
                    #[cfg(feature = "opentelemetry")]
                    let empty = {
                        let wrote =
                            self.trace_ids && crate::trace_ids::write_json(&mut writer, empty)?;
                        empty && !wrote
                    };
                    json::write_fields(&self.selection, &mut writer, empty, self.nest.as_deref())?;
                }
            }
            writer.write_str(&line[at..])
        })
    }
}

/// Where the variables go in a line the wrapped format wrote: before the newline of a text
/// line (or at its end), before the closing `}` of a JSON line; and whether that JSON object
/// is empty. `None` when a JSON line is no object.
#[cfg_attr(not(feature = "json"), allow(clippy::unnecessary_wraps))]
fn splice_point(line: &str, output: Output) -> Option<(usize, bool)> {
    match output {
        Output::Text => Some((line.strip_suffix('\n').unwrap_or(line).len(), false)),
        #[cfg(feature = "json")]
        Output::Json => {
            let object = line.trim_end().strip_suffix('}')?;
            Some((object.len(), object.trim_end().ends_with('{')))
        }
    }
}

/// Runs `f` with an empty buffer for one line, reused across the thread's events: the wrapped
/// format writes into it at the cost of a `String` push, and the line is then written once.
fn with_line_buffer<R>(f: impl FnOnce(&mut String) -> R) -> R {
    thread_local! {
        static LINE: RefCell<String> = const { RefCell::new(String::new()) };
    }
    LINE.with(|line| match line.try_borrow_mut() {
        Ok(mut line) => {
            line.clear();
            let result = f(&mut line);
            // One huge event does not pin its memory to the thread.
            if line.capacity() > 64 * 1024 {
                *line = String::new();
            }
            result
        }
        // An event logged while a line is being formatted (by a value's `Display`).
        Err(_) => f(&mut String::new()),
    })
}

impl<F: fmt::Debug> fmt::Debug for ContextFields<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextFields")
            .field("inner", &self.inner)
            .field("fields", &self.selection)
            .field("output", &self.output)
            .field("nest", &self.nest)
            .finish_non_exhaustive()
    }
}
