//! Spans: the span layer records the variables on every new span, for the fmt layer's span
//! fields and as OpenTelemetry attributes; span templates declare them.

mod common;

use std::sync::Barrier;

use common::Buffer;
use contextvars::ContextVar;
use contextvars_tracing::ContextFields;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Key, KeyValue, Value as OtelValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;
use tracing::Level;
use tracing_subscriber::prelude::*;

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static USER_ID: ContextVar<u64> = ContextVar::new("user_id");
static SECRET: ContextVar<String> = ContextVar::new("secret");

fn fields() -> ContextFields {
    ContextFields::new()
        .var(&REQUEST_ID)
        .var(&USER_ID)
        .var(&SECRET)
        .skip(&SECRET)
}

#[test]
fn text_lines_show_the_variables_among_the_span_s_fields() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let fields = fields();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .without_time()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        )
        .with(fields.span_layer());
    tracing::subscriber::with_default(subscriber, || {
        let outside = tracing::info_span!("outside", k = 1);
        let _id = REQUEST_ID.set("r-1".into());
        let _secret = SECRET.set("hunter2".into());
        let inside = tracing::info_span!("inside", k = 2);
        // A later set is not seen by a span that exists already.
        let _user = USER_ID.set(8);
        inside.in_scope(|| tracing::info!("in"));
        outside.in_scope(|| tracing::info!("out"));
    });
    let lines = buffer.lines();
    assert!(
        lines[0].contains("inside{k=2 request_id=\"r-1\"}: "),
        "{lines:?}"
    );
    assert!(lines[1].contains("outside{k=1}: "), "{lines:?}");
    assert!(!buffer.text().contains("hunter2"));
}

#[test]
fn json_lines_show_the_variables_in_the_current_span() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let fields = fields();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(move || writer.clone()),
        )
        .with(fields.span_layer());
    tracing::subscriber::with_default(subscriber, || {
        let _id = REQUEST_ID.set("r-2".into());
        let _user = USER_ID.set(3);
        tracing::info_span!("handler").in_scope(|| tracing::info!("in"));
    });
    let lines = buffer.json_lines();
    assert_eq!(
        lines[0]["span"],
        json!({"name": "handler", "request_id": "r-2", "user_id": 3})
    );
}

fn otel_subscriber(
    fields: &ContextFields,
) -> (
    impl tracing::Subscriber + Send + Sync,
    InMemorySpanExporter,
    SdkTracerProvider,
) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("tests")))
        .with(fields.span_layer());
    (subscriber, exporter, provider)
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a OtelValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == Key::from(key.to_owned()))
        .map(|kv: &KeyValue| &kv.value)
}

#[test]
fn exported_spans_carry_the_variables_as_attributes() {
    let (subscriber, exporter, provider) = otel_subscriber(&fields());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("startup").in_scope(|| {});
        let _id = REQUEST_ID.set("r-3".into());
        let _user = USER_ID.set(42);
        let _secret = SECRET.set("hunter2".into());
        tracing::info_span!("request", route = "/work").in_scope(|| {
            tracing::info_span!("db").in_scope(|| {});
        });
    });
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let by_name = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    for name in ["request", "db"] {
        let span = by_name(name);
        assert_eq!(attribute(span, "request_id"), Some(&OtelValue::from("r-3")));
        assert_eq!(attribute(span, "user_id"), Some(&OtelValue::I64(42)));
        assert_eq!(attribute(span, "secret"), None);
    }
    assert_eq!(
        attribute(by_name("request"), "route"),
        Some(&OtelValue::from("/work"))
    );
    assert_eq!(attribute(by_name("startup"), "request_id"), None);
}

#[test]
fn spans_of_concurrent_requests_carry_only_their_own_values() {
    const THREADS: u64 = 8;
    const SPANS: u64 = 50;
    let (subscriber, exporter, provider) = otel_subscriber(&fields());
    let dispatch = tracing::Dispatch::new(subscriber);
    let barrier = Barrier::new(usize::try_from(THREADS).unwrap());
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (dispatch, barrier) = (&dispatch, &barrier);
            scope.spawn(move || {
                tracing::dispatcher::with_default(dispatch, || {
                    barrier.wait();
                    for i in 0..SPANS {
                        let n = t * SPANS + i;
                        let _id = REQUEST_ID.set(format!("req-{n}"));
                        let _user = USER_ID.set(n);
                        tracing::info_span!("request", n).in_scope(|| {
                            tracing::info_span!("inner", n).in_scope(|| {});
                        });
                    }
                });
            });
        }
    });
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), usize::try_from(THREADS * SPANS * 2).unwrap());
    for span in &spans {
        // tracing-opentelemetry writes a u64 field of the span itself as text.
        let n: i64 = attribute(span, "n").unwrap().as_str().parse().unwrap();
        assert_eq!(
            attribute(span, "request_id"),
            Some(&OtelValue::from(format!("req-{n}")))
        );
        assert_eq!(attribute(span, "user_id"), Some(&OtelValue::I64(n)));
    }
}

#[test]
fn span_templates_declare_the_variables_as_fields() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let template = fields().span_template("job", "tests::jobs", Level::INFO, &["queue"]);
    let subscriber = tracing_subscriber::fmt()
        .without_time()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .with_max_level(Level::INFO)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let _id = REQUEST_ID.set("r-4".into());
        let _secret = SECRET.set("hunter2".into());
        let span = template.open(&[&"emails"]);
        assert_eq!(span.metadata().unwrap().target(), "tests::jobs");
        span.in_scope(|| tracing::info!("sent"));
        let quiet = fields().span_template("quiet", "tests", Level::DEBUG, &[]);
        assert!(quiet.open(&[]).is_disabled());
    });
    let lines = buffer.lines();
    assert!(
        lines[0].contains("job{queue=\"emails\" request_id=\"r-4\"}: "),
        "{lines:?}"
    );
    assert!(!buffer.text().contains("hunter2"));
}

#[test]
fn a_span_that_declares_a_variable_gets_it_once_with_the_span_layer() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let template = fields().span_template("request", "tests", Level::INFO, &[]);
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .without_time()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        )
        .with(fields().span_layer());
    tracing::subscriber::with_default(subscriber, || {
        let _id = REQUEST_ID.set("r-5".into());
        let _user = USER_ID.set(5);
        template.open(&[]).in_scope(|| tracing::info!("handled"));
    });
    let text = buffer.text();
    assert_eq!(text.matches("request_id").count(), 1, "{text}");
    assert_eq!(text.matches("user_id").count(), 1, "{text}");
}
