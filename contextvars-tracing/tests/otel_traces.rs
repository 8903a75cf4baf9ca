//! Whole traces under load: 8 threads x 50 concurrent requests, each handing work to tasks,
//! blocking threads and rayon, with spans exported through tracing-opentelemetry to the SDK's
//! in-memory exporter and JSON log lines carrying `trace_id` / `span_id`.

mod common;

use std::collections::{HashMap, HashSet};

use common::Buffer;
use contextvars::ContextVar;
use contextvars_rayon::ParallelIteratorExt;
use contextvars_tracing::ContextFields;
use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry::{Key, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use rayon::prelude::*;
use tracing::Instrument;
use tracing_subscriber::prelude::*;

static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");

const THREADS: u64 = 8;
const REQUESTS_PER_THREAD: u64 = 50;
/// The spans of one request: the request, `spawned`, `blocking`, and 4 `rayon_item`s.
const SPANS_PER_REQUEST: usize = 7;

async fn request(id: u64) {
    REQUEST_ID.set(id);
    let span = tracing::info_span!(parent: None, "request", request_id = id);
    async {
        tracing::info!("request");
        let spawned = contextvars::spawn(async {
            tokio::task::yield_now().await;
            let _span = tracing::info_span!("spawned", request_id = REQUEST_ID.get()).entered();
            tracing::info!("spawned");
        });
        let blocking = contextvars::spawn_blocking(|| {
            let _span = tracing::info_span!("blocking", request_id = REQUEST_ID.get()).entered();
            tracing::info!("blocking");
            (0..4).into_par_iter().with_current_context().for_each(|_| {
                let _span =
                    tracing::info_span!("rayon_item", request_id = REQUEST_ID.get()).entered();
                tracing::info!("rayon_item");
            });
        });
        spawned.await.unwrap();
        tokio::task::yield_now().await;
        blocking.await.unwrap();
    }
    .instrument(span)
    .await;
}

fn attribute(span: &SpanData, key: &str) -> Option<i64> {
    span.attributes
        .iter()
        .find(|kv| kv.key == Key::new(key.to_owned()))
        .and_then(|kv| match &kv.value {
            Value::I64(v) => Some(*v),
            // tracing-opentelemetry writes a `u64` as a string.
            Value::String(v) => v.as_str().parse().ok(),
            _ => None,
        })
}

#[test]
fn one_trace_per_request_and_log_lines_carry_their_span_ids() {
    contextvars_tracing::carry_spans();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let logs = Buffer::default();
    let writer = logs.clone();
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("tests")))
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .event_format(ContextFields::new().var(&REQUEST_ID).trace_ids().json())
                .with_writer(move || writer.clone()),
        )
        .init();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let handle = runtime.handle();
            scope.spawn(move || {
                handle.block_on(async move {
                    let requests = (0..REQUESTS_PER_THREAD)
                        .map(|i| contextvars::spawn(request(thread * REQUESTS_PER_THREAD + i)));
                    for request in requests.collect::<Vec<_>>() {
                        request.await.unwrap();
                    }
                });
            });
        }
    });
    drop(runtime);
    provider.force_flush().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let total = usize::try_from(THREADS * REQUESTS_PER_THREAD).unwrap();
    assert_eq!(spans.len(), total * SPANS_PER_REQUEST);
    // The roots: one per request, each its own trace.
    let mut request_of_trace = HashMap::new();
    for root in spans.iter().filter(|s| s.parent_span_id == SpanId::INVALID) {
        assert_eq!(root.name, "request", "only request spans are roots");
        let id = attribute(root, "request_id").unwrap_or_else(|| panic!("{:?}", root.attributes));
        assert!(
            request_of_trace
                .insert(root.span_context.trace_id(), id)
                .is_none()
        );
    }
    assert_eq!(request_of_trace.len(), total, "one trace per request");
    // Every other span is in its request's trace, under a span of that trace.
    let span_ids: HashMap<SpanId, _> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s.span_context.trace_id()))
        .collect();
    let mut per_trace: HashMap<_, usize> = HashMap::new();
    for span in &spans {
        let trace = span.span_context.trace_id();
        *per_trace.entry(trace).or_default() += 1;
        assert_eq!(
            request_of_trace.get(&trace).copied(),
            attribute(span, "request_id"),
            "{} is in its own request's trace",
            span.name
        );
        if span.parent_span_id != SpanId::INVALID {
            assert_eq!(span_ids.get(&span.parent_span_id), Some(&trace));
        }
        let expected_parent = match &*span.name {
            "request" => continue,
            "spawned" | "blocking" => "request",
            "rayon_item" => "blocking",
            other => panic!("unexpected span {other}"),
        };
        let parent = spans
            .iter()
            .find(|p| p.span_context.span_id() == span.parent_span_id)
            .unwrap();
        assert_eq!(parent.name, expected_parent);
    }
    assert!(per_trace.values().all(|&n| n == SPANS_PER_REQUEST));

    // Log lines: each carries its request id and the ids of the span it was logged in.
    let by_span: HashMap<String, &SpanData> = spans
        .iter()
        .map(|s| (s.span_context.span_id().to_string(), s))
        .collect();
    let lines = logs.json_lines();
    assert_eq!(lines.len(), total * SPANS_PER_REQUEST);
    let mut seen = HashSet::new();
    for line in &lines {
        let span = by_span[line["span_id"].as_str().unwrap_or_else(|| panic!("{line}"))];
        assert_eq!(
            line["trace_id"].as_str().unwrap(),
            span.span_context.trace_id().to_string()
        );
        assert_eq!(line["fields"]["message"].as_str().unwrap(), span.name);
        assert_eq!(line["request_id"].as_i64(), attribute(span, "request_id"));
        assert!(seen.insert(line["span_id"].as_str().unwrap().to_owned()));
    }
}
