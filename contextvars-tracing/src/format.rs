//! The event formatter: the wrapped format's line, with the variables spliced in before its
//! end.

use std::borrow::Cow;
use std::fmt::{self, Display};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use contextvars::registry::{self, Registration};
use contextvars::{ContextVar, VarSet};

use crate::fields::{Selection, classify_display};
use crate::{ContextSpanLayer, SpanTemplate, json, text};

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
}

#[derive(Clone, Copy, Debug)]
enum Output {
    Text,
    Json,
}

/// An event format that can be asked for ANSI colours, so that [`ContextFields`] keeps them.
///
/// tracing-subscriber hands a formatter a writer that knows whether to colour, and a wrapper
/// cannot pass that on to the format it wraps; it asks for a coloured copy instead.
/// Implemented for every [`Format`] of tracing-subscriber (full, compact, pretty, JSON).
pub trait Colours: Sized {
    /// A copy that writes ANSI colours, or `None` if the format never colours.
    fn coloured(&self) -> Option<Self>;
}

impl<L: Clone, T: Clone> Colours for Format<L, T> {
    fn coloured(&self) -> Option<Self> {
        Some(self.clone().with_ansi(true))
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
        }
    }

    /// Writes JSON lines: tracing-subscriber's JSON format (`timestamp`, `level`, `fields`,
    /// `target`, the current span and the span list), with every chosen variable bound in the
    /// current context as a key of the line's object, named after the variable.
    ///
    /// Strings become JSON strings, numbers and `bool`s JSON numbers and booleans, other
    /// values the JSON string of their `Display`. Use tracing-subscriber's JSON field
    /// formatter too (`tracing_subscriber::fmt().json()` sets it), so that span fields are
    /// JSON.
    #[must_use]
    pub fn json(self) -> ContextFields<Format<Json, SystemTime>> {
        let mut fields = self.with_format(tracing_subscriber::fmt::format().json());
        fields.output = Output::Json;
        fields
    }

    /// In JSON lines, puts the variables in one object under `key` (`"context":{…}`) instead
    /// of at the top level; the key is left out when no variable is set. Text lines are not
    /// affected.
    #[must_use]
    pub fn nest_under(mut self, key: impl Into<Cow<'static, str>>) -> ContextFields<F> {
        self.nest = Some(key.into());
        self
    }

    /// Adds `var`, named after the variable in lower case (`REQUEST_ID` gives `request_id`),
    /// on lines logged where it is set. Its default does not count: outside a request, a
    /// request id is not written.
    #[must_use]
    pub fn var<T>(self, var: &'static ContextVar<T>) -> ContextFields<F>
    where
        T: Display + Send + Sync + 'static,
    {
        let name = var.name().to_lowercase();
        self.var_named(name, var)
    }

    /// Adds `var`, written under `name`.
    #[must_use]
    pub fn var_named<T>(
        mut self,
        name: impl Into<Cow<'static, str>>,
        var: &'static ContextVar<T>,
    ) -> ContextFields<F>
    where
        T: Display + Send + Sync + 'static,
    {
        self.selection.push_typed(name.into(), var);
        self
    }

    /// Adds the declared variables of `vars`, such as `get_context_vars!(crate::request)` or a
    /// set made from [`registry::all`] filtered by module, each under its name in lower case,
    /// in the order of their names.
    #[must_use]
    pub fn vars(mut self, vars: &VarSet) -> ContextFields<F> {
        let mut vars: Vec<&'static Registration> = vars.iter().collect();
        vars.sort_by_key(|reg| (reg.name(), reg.module_path()));
        for reg in vars {
            self.selection.push_registered(reg);
        }
        self
    }

    /// Adds every variable declared with `#[context_var]` in the program.
    #[must_use]
    pub fn registered(self) -> ContextFields<F> {
        let all = VarSet::new(registry::all().collect());
        self.vars(&all)
    }

    /// Never writes `var` (a secret, such as a session token), whether it was chosen before
    /// this call or is chosen after it, by any of the methods above. Matches by the variable's
    /// name, so every variable of that name stays out.
    #[must_use]
    pub fn secret<T>(self, var: &'static ContextVar<T>) -> ContextFields<F> {
        self.skip(var.name())
    }

    /// Never writes a variable named `name` (as declared, such as `"SESSION_TOKEN"`).
    #[must_use]
    pub fn skip(mut self, name: &'static str) -> ContextFields<F> {
        self.selection.secret(name);
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
        let ansi = writer.has_ansi_escapes();
        let (inner, closing) = match (&self.output, &self.coloured) {
            (Output::Text, Some(coloured)) if ansi => (coloured, b'\n'),
            (Output::Text, _) => (&self.inner, b'\n'),
            (Output::Json, _) => (&self.inner, b'}'),
        };
        let mut line = HoldEnd::new(writer.by_ref(), closing);
        inner.format_event(ctx, Writer::new(&mut line), event)?;
        line.finish(|out, first| match self.output {
            Output::Text => text::write_fields(&self.selection, out, ansi),
            Output::Json => json::write_fields(&self.selection, out, first, self.nest.as_deref()),
        })
    }
}

/// Passes text through, except its end: the newline of a text line, the closing `}` and
/// newline of a JSON line. The variables go in before it.
struct HoldEnd<'w> {
    out: Writer<'w>,
    closing: u8,
    held: [u8; 16],
    len: usize,
    /// The last byte passed through.
    last: u8,
}

impl<'w> HoldEnd<'w> {
    fn new(out: Writer<'w>, closing: u8) -> HoldEnd<'w> {
        HoldEnd {
            out,
            closing,
            held: [0; 16],
            len: 0,
            last: 0,
        }
    }

    fn is_end(&self, byte: u8) -> bool {
        byte == b'\n' || byte == self.closing
    }

    fn flush_held(&mut self) -> fmt::Result {
        if self.len > 0 {
            self.last = self.held[self.len - 1];
            self.out.write_str(ascii(&self.held[..self.len])?)?;
            self.len = 0;
        }
        Ok(())
    }

    /// Writes what was held, with `write_fields(out, object_is_empty)` before the last
    /// closing byte (or at the end of a text line that has no newline).
    fn finish(
        mut self,
        write_fields: impl FnOnce(&mut dyn fmt::Write, bool) -> fmt::Result,
    ) -> fmt::Result {
        let held = &self.held[..self.len];
        let at = match held.iter().rposition(|&byte| byte == self.closing) {
            Some(at) => at,
            None if self.closing == b'\n' => held.len(),
            // Not a JSON object: leave the line as the wrapped format wrote it.
            None => return self.flush_held(),
        };
        self.out.write_str(ascii(&held[..at])?)?;
        let before = if at > 0 { held[at - 1] } else { self.last };
        write_fields(&mut self.out, before == b'{')?;
        self.out.write_str(ascii(&held[at..])?)
    }
}

fn ascii(bytes: &[u8]) -> Result<&str, fmt::Error> {
    std::str::from_utf8(bytes).map_err(|_| fmt::Error)
}

impl fmt::Write for HoldEnd<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let bytes = text.as_bytes();
        let end = bytes.iter().rev().take_while(|&&b| self.is_end(b)).count();
        let body = bytes.len() - end;
        if body > 0 || self.len + end > self.held.len() {
            self.flush_held()?;
            // The end bytes are ASCII, so `body` is a char boundary.
            let keep = end.min(self.held.len());
            let (out, kept) = text.split_at(bytes.len() - keep);
            if !out.is_empty() {
                self.last = out.as_bytes()[out.len() - 1];
                self.out.write_str(out)?;
            }
            self.held[..keep].copy_from_slice(kept.as_bytes());
            self.len = keep;
        } else {
            self.held[self.len..self.len + end].copy_from_slice(bytes);
            self.len += end;
        }
        Ok(())
    }
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
