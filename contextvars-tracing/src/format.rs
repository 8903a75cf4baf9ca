//! The event formatter: the wrapped format's line, with the variables spliced in before its
//! end.

use std::cell::RefCell;
use std::fmt;

use tracing::{Event, Subscriber};
#[cfg(feature = "json")]
use tracing_subscriber::fmt::format::Json;
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::fields::Selection;
use crate::text;
#[cfg(feature = "json")]
use crate::{json, keys};

/// An event format (feature `subscriber`) that writes the chosen context variables on every
/// line, as text fields or JSON keys: made by [`ContextFields::format`](crate::ContextFields::format)
/// or [`ContextFields::json`](crate::ContextFields::json); see the [crate documentation](crate).
///
/// Give it to [`tracing_subscriber::fmt::SubscriberBuilder::event_format`] or
/// [`tracing_subscriber::fmt::Layer::event_format`]. It wraps one of tracing-subscriber's
/// [`Format`]s (full, compact, pretty or JSON; [`with_format`](Self::with_format)), whose line
/// it writes with the variables spliced in before the line's end.
///
/// Colours follow the subscriber's `with_ansi`, as the wrapped format's would; this format's
/// own [`with_ansi`](Self::with_ansi) overrides them, as [`Format::with_ansi`] does.
#[cfg_attr(docsrs, doc(cfg(feature = "subscriber")))]
#[derive(Clone)]
pub struct ContextFormat<L = Full, T = SystemTime> {
    inner: Format<L, T>,
    /// `inner` with ANSI colours on, used when the line is coloured.
    coloured: Format<L, T>,
    /// Colours on or off whatever the writer says, if set.
    ansi: Option<bool>,
    selection: Selection,
    output: Output,
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

impl ContextFormat {
    pub(crate) fn text(selection: Selection) -> ContextFormat {
        ContextFormat::wrap(Format::default(), selection, Output::Text)
    }
}

#[cfg(feature = "json")]
impl ContextFormat<Json, SystemTime> {
    #[track_caller]
    pub(crate) fn json(mut selection: Selection) -> ContextFormat<Json, SystemTime> {
        keys::check_json_keys(&mut selection.fields, selection.nest.as_deref());
        let inner = tracing_subscriber::fmt::format()
            .json()
            .with_current_span(false)
            .with_span_list(false);
        ContextFormat::wrap(inner, selection, Output::Json)
    }
}

impl<L: Clone, T: Clone> ContextFormat<L, T> {
    fn wrap(inner: Format<L, T>, selection: Selection, output: Output) -> ContextFormat<L, T> {
        ContextFormat {
            coloured: inner.clone().with_ansi(true),
            inner,
            ansi: None,
            selection,
            output,
            #[cfg(feature = "opentelemetry")]
            trace_ids: false,
        }
    }

    /// The same variables around another of tracing-subscriber's formats: for text lines,
    /// such as `tracing_subscriber::fmt::format().compact()`; after
    /// [`ContextFields::json`](crate::ContextFields::json), another JSON format, such as
    /// `tracing_subscriber::fmt::format().json().flatten_event(true)`.
    #[must_use]
    pub fn with_format<L2: Clone, T2: Clone>(self, inner: Format<L2, T2>) -> ContextFormat<L2, T2> {
        ContextFormat {
            coloured: inner.clone().with_ansi(true),
            inner,
            ansi: self.ansi,
            selection: self.selection,
            output: self.output,
            #[cfg(feature = "opentelemetry")]
            trace_ids: self.trace_ids,
        }
    }

    /// Colours on or off for this format's lines, whatever the subscriber's `with_ansi` says
    /// (which it follows by default). JSON lines are never coloured.
    #[must_use]
    pub fn with_ansi(mut self, ansi: bool) -> ContextFormat<L, T> {
        self.ansi = Some(ansi);
        self
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
    pub fn trace_ids(mut self) -> ContextFormat<L, T> {
        self.trace_ids = true;
        self
    }
}

impl<S, N, L, T> FormatEvent<S, N> for ContextFormat<L, T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    Format<L, T>: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        #[cfg(feature = "tokio")]
        crate::unhooked::check(event.metadata());
        let ansi = self.ansi.unwrap_or_else(|| writer.has_ansi_escapes());
        // JSON lines are never coloured.
        let coloured = ansi && matches!(self.output, Output::Text);
        let inner = if coloured {
            &self.coloured
        } else {
            &self.inner
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
                    json::write_fields(&self.selection, &mut writer, empty)?;
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

impl<L: fmt::Debug, T: fmt::Debug> fmt::Debug for ContextFormat<L, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextFormat")
            .field("inner", &self.inner)
            .field("ansi", &self.ansi)
            .field("fields", &self.selection)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}
