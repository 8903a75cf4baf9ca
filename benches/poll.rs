//! One poll of a future that runs in its own context, next to its peers.
//!
//! Each iteration polls an always-pending future once with a no-op waker, so the figure is the
//! per-poll cost a wrapper adds to every wake-up of a task:
//!
//! - `bare`: the inner future alone (the floor);
//! - `ours`: `with_context(ctx)`, a swap of the thread's current context in and out;
//! - `tokio`: `task_local!`'s `scope` future, which swaps its value in and out per poll;
//! - `otel`: opentelemetry's `with_context`, which attaches a clone of its context per poll.
//!
//! `poll` measures an empty poll; `poll_read` reads one `u64` variable inside the poll.
//!
//! `poll_span` is a poll that also enters a `tracing` span (a registry subscriber), the cost of
//! a context switch with one companion:
//!
//! - `instrumented`: tracing's `Instrumented`, which enters and exits its span per poll;
//! - `ours_carrying_span`: `with_context(ctx)` where `ctx` carries the span through
//!   `contextvars_tracing::carry_spans`, entered and exited with the context;
//! - `ours`: the same context switch without a companion state, for reference.
//!
//! It runs last: it registers the companion, and the groups before it measure the switch with
//! none registered. Benchmark ids are `<group>/<contender>`.

use std::future::{Future, pending};
use std::hint::black_box;
use std::pin::pin;
use std::task::{self, Poll, Waker};

use contextvars::{Context, ContextVar};
use criterion::{Criterion, criterion_group, criterion_main};
// Both crates name their adapter `with_context`, so the calls below spell out the trait.
use contextvars::FutureExt as Ours;
use opentelemetry::context::FutureExt as Otel;

static VALUE: ContextVar<u64> = ContextVar::new("value");

tokio::task_local! {
    static TOKIO_VALUE: u64;
}

struct OtelValue(u64);

/// A context binding `VALUE`, as a task's context would.
fn ours() -> Context {
    let mut ctx = Context::new();
    ctx.run(|| drop(VALUE.set(7)));
    ctx
}

fn otel() -> opentelemetry::Context {
    opentelemetry::Context::new().with_value(OtelValue(7))
}

fn bench_polls<F: Future>(c: &mut Criterion, group: &str, contender: &str, future: F) {
    let mut future = pin!(future);
    let mut cx = task::Context::from_waker(Waker::noop());
    c.bench_function(&format!("{group}/{contender}"), |b| {
        b.iter(|| {
            let poll = black_box(future.as_mut()).poll(&mut cx);
            assert!(poll.is_pending());
        });
    });
}

fn poll(c: &mut Criterion) {
    bench_polls(c, "poll", "bare", pending::<()>());
    bench_polls(
        c,
        "poll",
        "ours",
        Ours::with_context(pending::<()>(), ours()),
    );
    bench_polls(c, "poll", "tokio", TOKIO_VALUE.scope(7, pending::<()>()));
    bench_polls(
        c,
        "poll",
        "otel",
        Otel::with_context(pending::<()>(), otel()),
    );
}

/// An always-pending future whose every poll reads a value through `read`.
fn reading(read: fn() -> u64) -> impl Future<Output = ()> {
    std::future::poll_fn(move |_| {
        black_box(read());
        Poll::Pending
    })
}

fn poll_read(c: &mut Criterion) {
    bench_polls(
        c,
        "poll_read",
        "ours",
        Ours::with_context(reading(|| VALUE.get()), ours()),
    );
    bench_polls(
        c,
        "poll_read",
        "tokio",
        TOKIO_VALUE.scope(7, reading(|| TOKIO_VALUE.get())),
    );
    let otel_read =
        || opentelemetry::Context::map_current(|cx| cx.get::<OtelValue>().map_or(0, |v| v.0));
    bench_polls(
        c,
        "poll_read",
        "otel",
        Otel::with_context(reading(otel_read), otel()),
    );
}

fn poll_span(c: &mut Criterion) {
    use tracing::Instrument as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    contextvars_tracing::carry_spans();
    tracing_subscriber::registry().init();
    let span = tracing::info_span!("task");
    assert!(!span.is_none());
    bench_polls(
        c,
        "poll_span",
        "instrumented",
        pending::<()>().instrument(span.clone()),
    );
    let mut carrying = ours();
    assert!(carrying.set_companion_state::<contextvars_tracing::CurrentSpan>(Some(span)));
    bench_polls(
        c,
        "poll_span",
        "ours_carrying_span",
        Ours::with_context(pending::<()>(), carrying),
    );
    bench_polls(
        c,
        "poll_span",
        "ours",
        Ours::with_context(pending::<()>(), ours()),
    );
}

criterion_group!(benches, poll, poll_read, poll_span);
criterion_main!(benches);
