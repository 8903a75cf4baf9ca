//! Two request variables across the wire, ours next to OpenTelemetry's, in one run.
//!
//! - `ours`: `contextvars_opentelemetry::BaggagePropagator` over two variables declared
//!   `propagate` and bound in the current context;
//! - `otel`: `opentelemetry_sdk`'s `BaggagePropagator` over an OpenTelemetry `Context` whose
//!   `Baggage` holds the same two entries.
//!
//! Each iteration makes a fresh `HashMap` carrier (inject) or reads the same one (extract), on
//! both sides. `extract` is the propagator's call; `extract_apply` adds what makes our values
//! readable by `get` (a new contextvars `Context` with them bound), which OpenTelemetry's
//! extract already gives its `Baggage`.

use std::collections::HashMap;
use std::hint::black_box;

use contextvars::baggage::Accept;
use contextvars::{Context, context_var};
use contextvars_opentelemetry::BaggagePropagator;
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::KeyValue;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::BaggagePropagator as SdkBaggagePropagator;

#[context_var(default = String::new(), propagate = "request_id")]
static REQUEST_ID: String;

#[context_var(default = String::from("none"), propagate = "tenant")]
static TENANT: String;

const REQUEST: &str = "req-4bf92f3577b34da6";
const TENANT_VALUE: &str = "acme corp";

fn bench_inject(c: &mut Criterion) {
    let mut g = c.benchmark_group("baggage_inject_2");
    let ours = BaggagePropagator::new();
    let empty = opentelemetry::Context::new();
    let mut request = Context::new();
    request.run(|| {
        drop(REQUEST_ID.set(REQUEST.to_owned()));
        drop(TENANT.set(TENANT_VALUE.to_owned()));
        g.bench_function("ours", |b| {
            b.iter(|| {
                let mut carrier = HashMap::new();
                ours.inject_context(black_box(&empty), &mut carrier);
                carrier
            });
        });
    });
    let theirs = SdkBaggagePropagator::new();
    let cx = opentelemetry::Context::new().with_baggage([
        KeyValue::new("request_id", REQUEST),
        KeyValue::new("tenant", TENANT_VALUE),
    ]);
    g.bench_function("otel", |b| {
        b.iter(|| {
            let mut carrier = HashMap::new();
            theirs.inject_context(black_box(&cx), &mut carrier);
            carrier
        });
    });
    g.finish();
}

fn bench_extract(c: &mut Criterion) {
    let mut g = c.benchmark_group("baggage_extract_2");
    let carrier = HashMap::from([(
        "baggage".to_owned(),
        "request_id=req-4bf92f3577b34da6,tenant=acme%20corp".to_owned(),
    )]);
    let empty = opentelemetry::Context::new();
    let ours = BaggagePropagator::new().accept_baggage(Accept::all());
    let extracted = ours.extract_with_context(&empty, &carrier);
    assert_eq!(
        contextvars_opentelemetry::to_context(&extracted).run(|| TENANT.get()),
        TENANT_VALUE
    );
    g.bench_function("ours.extract", |b| {
        b.iter(|| ours.extract_with_context(black_box(&empty), black_box(&carrier)));
    });
    g.bench_function("ours.extract_apply", |b| {
        b.iter(|| {
            let cx = ours.extract_with_context(black_box(&empty), black_box(&carrier));
            contextvars_opentelemetry::to_context(&cx)
        });
    });
    let theirs = SdkBaggagePropagator::new();
    let extracted = theirs.extract_with_context(&empty, &carrier);
    assert_eq!(
        extracted
            .baggage()
            .get("tenant")
            .map(|v| v.as_str().to_owned()),
        Some(TENANT_VALUE.to_owned())
    );
    g.bench_function("otel.extract", |b| {
        b.iter(|| theirs.extract_with_context(black_box(&empty), black_box(&carrier)));
    });
    g.finish();
}

criterion_group!(benches, bench_inject, bench_extract);
criterion_main!(benches);
