//! Where the two services' spans and log lines go: every finished span through
//! OpenTelemetry's SDK to one JSON line each, every log line as JSON with the request's
//! variables; and the check that each request's spans form one tree.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use contextvars::module_vars;
use contextvars_tracing::ContextFields;
use opentelemetry::trace::{SpanKind, TracerProvider as _};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
use serde_json::{Map, Value as Json, json};
use tracing_subscriber::prelude::*;

/// Where JSON lines go: a file (`--spans FILE`, `--logs FILE`) or memory (the `--requests`
/// check and the tests). Cloning shares it.
#[derive(Clone)]
pub struct Lines(Arc<Mutex<Sink>>);

enum Sink {
    File(io::BufWriter<std::fs::File>, String),
    Memory(Vec<u8>),
}

impl Lines {
    /// Lines appended to `path`, created or truncated.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn file(path: &str) -> io::Result<Lines> {
        let file = std::fs::File::create(path)?;
        let sink = Sink::File(io::BufWriter::new(file), path.to_owned());
        Ok(Lines(Arc::new(Mutex::new(sink))))
    }

    /// Lines kept in memory.
    pub fn memory() -> Lines {
        Lines(Arc::new(Mutex::new(Sink::Memory(Vec::new()))))
    }

    fn write_line(&self, line: &[u8]) {
        let mut sink = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = match &mut *sink {
            Sink::File(file, _) => file.write_all(line),
            Sink::Memory(lines) => lines.write_all(line),
        };
    }

    /// Writes what is buffered to the file.
    pub fn flush(&self) {
        if let Sink::File(file, _) = &mut *self.0.lock().unwrap_or_else(PoisonError::into_inner) {
            let _ = file.flush();
        }
    }

    /// Every line written so far, parsed.
    pub fn parsed(&self) -> Vec<Json> {
        let mut sink = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let bytes = match &mut *sink {
            Sink::File(file, path) => {
                let _ = file.flush();
                std::fs::read(path.as_str()).unwrap_or_default()
            }
            Sink::Memory(lines) => lines.clone(),
        };
        bytes
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).expect("every line is JSON"))
            .collect()
    }
}

/// A writer for tracing-subscriber: each event's line is written whole when it is done.
pub struct LineWriter {
    lines: Lines,
    line: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.lines.write_line(&self.line);
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Lines {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            lines: self.clone(),
            line: Vec::with_capacity(256),
        }
    }
}

/// An OpenTelemetry span processor that writes each finished span as one JSON line:
/// `{"service", "name", "kind", "trace_id", "span_id", "parent_span_id", "attributes"}`. The
/// service is the span's target (`gateway` or `backend`), as two processes would each name
/// their own.
#[derive(Clone)]
pub struct JsonSpans(pub Lines);

impl fmt::Debug for JsonSpans {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JsonSpans")
    }
}

fn kind(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    }
}

fn json_value(value: &Value) -> Json {
    match value {
        Value::Bool(v) => json!(v),
        Value::I64(v) => json!(v),
        Value::F64(v) => json!(v),
        other => json!(other.as_str()),
    }
}

impl SpanProcessor for JsonSpans {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        let mut attributes = Map::new();
        for kv in &span.attributes {
            attributes.insert(kv.key.as_str().to_owned(), json_value(&kv.value));
        }
        let service = attributes
            .get("target")
            .and_then(Json::as_str)
            .unwrap_or("gateway")
            .to_owned();
        let parent = if span.parent_span_id == opentelemetry::trace::SpanId::INVALID {
            String::new()
        } else {
            span.parent_span_id.to_string()
        };
        let line = json!({
            "service": service,
            "name": span.name,
            "kind": kind(&span.span_kind),
            "trace_id": span.span_context.trace_id().to_string(),
            "span_id": span.span_context.span_id().to_string(),
            "parent_span_id": parent,
            "attributes": attributes,
        });
        let mut line = line.to_string().into_bytes();
        line.push(b'\n');
        self.0.write_line(&line);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.flush();
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.0.flush();
        Ok(())
    }
}

/// Installs the process's subscriber: JSON log lines with the request's variables and the
/// trace and span ids to `logs`, spans to OpenTelemetry and from there to `spans`, the
/// variables recorded on every span; and carries the current span with the context.
/// Returns the provider, to shut down (and flush) before exiting.
pub fn install(spans: &Lines, logs: &Lines) -> SdkTracerProvider {
    // The span and OpenTelemetry's context current at every hand-off are current where the
    // work runs: spawn_blocking, rayon, spawned tasks, queued jobs, response bodies.
    contextvars_tracing::carry_spans();
    contextvars_opentelemetry::carry_context();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(JsonSpans(spans.clone()))
        .build();
    let fields = ContextFields::new().vars(&module_vars!(super::app::request));
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .event_format(fields.json().trace_ids())
                .with_writer(logs.clone()),
        )
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("two_services")))
        .with(fields.span_layer())
        .with(tracing_subscriber::filter::LevelFilter::INFO);
    tracing::subscriber::set_global_default(subscriber).expect("no other subscriber is set");
    provider
}

/// What the trace check found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TraceTally {
    /// Requests whose spans are not one tree under the gateway's server span (several traces,
    /// a parent missing, a span missing, or not the client's trace).
    pub split: usize,
    /// Spans carrying one request's id in another request's trace.
    pub crosstalk: usize,
}

/// What a request must have produced: the spans of `GET /call` and, for request ids in
/// `continued`, the client's trace id and parent span id.
pub struct Expected<'a> {
    /// The request's id.
    pub request_id: String,
    /// Span names the request's tree must contain, with how many of each.
    pub spans: &'a [(&'a str, usize)],
    /// The `traceparent` the client sent: its trace id and span id.
    pub continued: Option<(String, String)>,
}

/// Checks that the spans of each expected request form one tree: one trace, one root (the
/// gateway's server span, parented on the client's span when it sent one), every other span's
/// parent among them, and the span names expected.
pub fn check_traces<'a>(
    spans: &[Json],
    expected: impl IntoIterator<Item = Expected<'a>>,
) -> TraceTally {
    let text = |span: &Json, key: &str| span[key].as_str().unwrap_or("").to_owned();
    let mut by_request: HashMap<String, Vec<&Json>> = HashMap::new();
    let mut trace_owner: HashMap<String, String> = HashMap::new();
    for span in spans {
        let id = span["attributes"]["request_id"].as_str().unwrap_or("");
        by_request.entry(id.to_owned()).or_default().push(span);
        if span["kind"] == "server" && span["service"] == "gateway" {
            trace_owner.insert(text(span, "trace_id"), id.to_owned());
        }
    }
    let mut tally = TraceTally::default();
    for span in spans {
        let id = span["attributes"]["request_id"].as_str().unwrap_or("");
        if let Some(owner) = trace_owner.get(&text(span, "trace_id")) {
            if owner != id {
                tally.crosstalk += 1;
            }
        }
    }
    for request in expected {
        let mine = by_request.remove(&request.request_id).unwrap_or_default();
        if !one_tree(&mine, &request) {
            tally.split += 1;
        }
    }
    tally
}

fn one_tree(spans: &[&Json], request: &Expected<'_>) -> bool {
    let Some(first) = spans.first() else {
        return false;
    };
    let trace = &first["trace_id"];
    let ids: Vec<&Json> = spans.iter().map(|span| &span["span_id"]).collect();
    let roots: Vec<&&Json> = spans
        .iter()
        .filter(|span| !ids.contains(&&span["parent_span_id"]))
        .collect();
    let [root] = roots.as_slice() else {
        return false;
    };
    let root_ok = root["service"] == "gateway"
        && root["kind"] == "server"
        && match &request.continued {
            Some((trace_id, parent)) => *trace == **trace_id && root["parent_span_id"] == **parent,
            None => root["parent_span_id"] == "",
        };
    let counts_ok = request
        .spans
        .iter()
        .all(|(name, count)| spans.iter().filter(|span| span["name"] == *name).count() == *count);
    root_ok && counts_ok && spans.iter().all(|span| span["trace_id"] == *trace)
}
