//! `trace_id` and `span_id` of the current OpenTelemetry span, on every line.

use std::fmt::{self, Write};

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};

/// The ids of the span current in OpenTelemetry's context, if it is valid.
///
/// tracing-opentelemetry makes a tracing span's OpenTelemetry context current while the span
/// is entered (its default "context activation"), so this is the span the event is logged in.
fn current() -> Option<(TraceId, SpanId)> {
    opentelemetry::Context::map_current(|cx| {
        let span = cx.span();
        let context = span.span_context();
        context
            .is_valid()
            .then(|| (context.trace_id(), context.span_id()))
    })
}

/// Writes `"trace_id":"…","span_id":"…"` into a JSON object; `first` says whether nothing was
/// written in it before. Returns whether it wrote.
#[cfg(feature = "json")]
pub(crate) fn write_json(out: &mut dyn Write, first: bool) -> Result<bool, fmt::Error> {
    let Some((trace_id, span_id)) = current() else {
        return Ok(false);
    };
    if !first {
        out.write_char(',')?;
    }
    write!(out, r#""trace_id":"{trace_id}","span_id":"{span_id}""#)?;
    Ok(true)
}

/// Writes ` trace_id=… span_id=…` at the end of a text line.
pub(crate) fn write_text(out: &mut dyn Write, ansi: bool) -> fmt::Result {
    let Some((trace_id, span_id)) = current() else {
        return Ok(());
    };
    if ansi {
        write!(
            out,
            " \x1b[3mtrace_id\x1b[0m\x1b[2m=\x1b[0m{trace_id} \x1b[3mspan_id\x1b[0m\x1b[2m=\x1b[0m{span_id}"
        )
    } else {
        write!(out, " trace_id={trace_id} span_id={span_id}")
    }
}
