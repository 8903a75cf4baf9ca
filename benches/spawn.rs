//! Spawn + run + join of 100,000 tasks on a tokio current-thread runtime, next to its peers.
//!
//! Each iteration spawns `TASKS` tasks from inside `block_on`, then awaits every handle in
//! order. Every task reads its context once and returns the `u64` it read, so the contenders do
//! the same work and differ only in how the value reaches the task:
//!
//! - `bare`: `tokio::spawn`, the task reads a `thread_local!` `Cell` (the floor: no context);
//! - `ours`: `contextvars::spawn` (a snapshot of the spawner's context, where `VALUE` is set),
//!   the task reads `VALUE.get()`;
//! - `tokio`: `tokio::spawn(KEY.scope(7, fut))`, the task reads `KEY.get()`;
//! - `otel`: `tokio::spawn(fut.with_context(Context::current()))` (a clone of the spawner's
//!   context, where the value is attached), the task reads it with `Context::map_current`.
//!
//! Criterion reports the time of one iteration (100,000 tasks) with a throughput of 100,000
//! elements; `scripts/bench_report.py` divides by `TASKS` to report per task. Ids are
//! `spawn100k/<contender>`.

use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use contextvars::ContextVar;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use opentelemetry::context::FutureExt as _;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// Tasks per iteration; `scripts/bench_report.py` divides by the same number.
const TASKS: u32 = 100_000;

static VALUE: ContextVar<u64> = ContextVar::new("value");

thread_local! {
    static TL_VALUE: Cell<u64> = const { Cell::new(7) };
}

tokio::task_local! {
    static TOKIO_VALUE: u64;
}

struct OtelValue(u64);

/// Spawns `TASKS` tasks with `spawn` and joins them all, in order.
async fn spawn_join(spawn: impl Fn() -> JoinHandle<u64>) {
    let handles: Vec<JoinHandle<u64>> = (0..TASKS).map(|_| spawn()).collect();
    for handle in handles {
        black_box(handle.await.expect("task panicked"));
    }
}

fn bench_spawn(
    c: &mut Criterion,
    rt: &Runtime,
    contender: &str,
    spawn: impl Fn() -> JoinHandle<u64> + Copy,
) {
    let mut g = c.benchmark_group("spawn100k");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(u64::from(TASKS)));
    g.bench_function(contender, |b| {
        b.iter(|| rt.block_on(spawn_join(spawn)));
    });
    g.finish();
}

fn spawn(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");

    bench_spawn(c, &rt, "bare", || {
        tokio::spawn(async { TL_VALUE.with(Cell::get) })
    });

    // The spawner's context (this thread's, which `block_on` polls in) binds VALUE.
    let token = VALUE.set(7);
    bench_spawn(c, &rt, "ours", || contextvars::spawn(async { VALUE.get() }));
    VALUE.reset(token).expect("reset in the same context");

    bench_spawn(c, &rt, "tokio", || {
        tokio::spawn(TOKIO_VALUE.scope(7, async { TOKIO_VALUE.get() }))
    });

    // The spawner's current otel context carries the value; each task gets a clone of it.
    let guard = opentelemetry::Context::new()
        .with_value(OtelValue(7))
        .attach();
    bench_spawn(c, &rt, "otel", || {
        let read = async {
            opentelemetry::Context::map_current(|cx| cx.get::<OtelValue>().map_or(0, |v| v.0))
        };
        tokio::spawn(read.with_context(opentelemetry::Context::current()))
    });
    drop(guard);
}

criterion_group!(benches, spawn);
criterion_main!(benches);
