//! The cost of the context variables in log lines and on spans, next to writing the same values
//! by hand.
//!
//! Every contender formats one `info!` event (or creates and closes one span) into
//! `io::sink()`, inside a context that binds `REQUEST_ID` ("req-1234") and `USER_ID` (42):
//!
//! - `json/ours`: `ContextFields::json()` with the two variables, the event without them;
//! - `json/by_hand`: tracing-subscriber's own JSON format, the two values passed as event
//!   fields at the call site (what users write without this crate);
//! - `json/bare`: tracing-subscriber's JSON format, neither (the floor);
//! - `text/*`: the same with the default text format, and `text/wrapper`: `ContextFields::format()`
//!   with no variables (what the wrapping alone costs);
//! - `span/ours`: a span with no fields, the span layer recording the two variables, under the
//!   fmt layer; `span/by_hand`: the span declares the two values; `span/bare`: neither.
//!
//! Benchmark ids are `<group>/<contender>`.

use std::hint::black_box;

use contextvars::{Context, ContextVar};
use contextvars_tracing::ContextFields;
use criterion::{Criterion, criterion_group, criterion_main};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static USER_ID: ContextVar<u64> = ContextVar::new("user_id");

fn fields() -> ContextFields {
    ContextFields::new().var(&REQUEST_ID).var(&USER_ID)
}

fn request_context() -> Context {
    let mut ctx = Context::new();
    ctx.run(|| {
        drop(REQUEST_ID.set("req-1234".to_owned()));
        drop(USER_ID.set(42));
    });
    ctx
}

fn bench_in(c: &mut Criterion, id: &str, dispatch: &Dispatch, f: impl Fn()) {
    let mut ctx = request_context();
    ctx.run(|| {
        tracing::dispatcher::with_default(dispatch, || {
            c.bench_function(id, |b| b.iter(&f));
        });
    });
}

fn event_by_hand() {
    let (id, user) = (black_box("req-1234"), black_box(42_u64));
    tracing::info!(n = 1, request_id = id, user_id = user, "handled");
}

fn event_plain() {
    tracing::info!(n = black_box(1), "handled");
}

fn json(c: &mut Criterion) {
    let ours = Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .event_format(fields().json())
            .with_writer(std::io::sink)
            .finish(),
    );
    let theirs = || {
        Dispatch::new(
            tracing_subscriber::fmt()
                .json()
                .with_writer(std::io::sink)
                .finish(),
        )
    };
    bench_in(c, "json/ours", &ours, event_plain);
    bench_in(c, "json/by_hand", &theirs(), event_by_hand);
    bench_in(c, "json/bare", &theirs(), event_plain);
}

fn text(c: &mut Criterion) {
    let ours = Dispatch::new(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .event_format(fields().format())
            .with_writer(std::io::sink)
            .finish(),
    );
    let theirs = || {
        Dispatch::new(
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(std::io::sink)
                .finish(),
        )
    };
    bench_in(c, "text/ours", &ours, event_plain);
    let wrapper = Dispatch::new(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .event_format(ContextFields::new().format())
            .with_writer(std::io::sink)
            .finish(),
    );
    bench_in(c, "text/wrapper", &wrapper, event_plain);
    bench_in(c, "text/by_hand", &theirs(), event_by_hand);
    bench_in(c, "text/bare", &theirs(), event_plain);
}

fn spans(c: &mut Criterion) {
    let fmt = || {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::sink)
    };
    let ours = Dispatch::new(
        tracing_subscriber::registry()
            .with(fmt())
            .with(fields().span_layer()),
    );
    let theirs = || Dispatch::new(tracing_subscriber::registry().with(fmt()));
    bench_in(c, "span/ours", &ours, || {
        drop(black_box(tracing::info_span!("work")));
    });
    bench_in(c, "span/by_hand", &theirs(), || {
        let (id, user) = (black_box("req-1234"), black_box(42_u64));
        drop(black_box(tracing::info_span!(
            "work",
            request_id = id,
            user_id = user
        )));
    });
    bench_in(c, "span/bare", &theirs(), || {
        drop(black_box(tracing::info_span!("work")));
    });
}

criterion_group!(benches, json, text, spans);
criterion_main!(benches);
