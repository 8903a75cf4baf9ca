//! A rayon `par_iter` of 10,000 cheap items, plain and with `with_current_context()`.
//!
//! Each iteration maps every item of a `Vec<u64>` through a multiply and a shift and sums the
//! results on a rayon pool, from a thread that has a variable set (so the captured context is
//! not empty and every copy shares real bindings). The pool has two threads (`rayon10k`), and
//! one (`rayon10k_1t`), where no thread waits for another and the per-item cost stands out
//! from scheduling noise:
//!
//! - `plain`: `items.par_iter().map(..).sum()`;
//! - `ours`: `items.par_iter().with_current_context().map(..).sum()`: every item in a copy of
//!   the caller's context;
//! - `ours_get`: the same, each item also reading the variable (what the adapter is for).
//!
//! `rayon10k_work` runs `plain` and `ours` again on two threads with items of some weight (64
//! rounds of the multiply and shift, tens of nanoseconds), to show what the fixed per-item cost
//! is next to real work.
//!
//! Ids are `rayon10k/<contender>` and `rayon10k_1t/<contender>`; the contenders run side by
//! side in one run, compare their ratio.

use std::hint::black_box;
use std::time::Duration;

use contextvars::ContextVar;
use contextvars_rayon::ParallelIteratorExt;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;

const ITEMS: u64 = 10_000;

static REQUEST: ContextVar<u64> = ContextVar::with_default("request", || 0);

fn cheap(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7
}

fn heavier(x: u64) -> u64 {
    (0..64).fold(x, |acc, _| cheap(black_box(acc)) ^ x)
}

fn rayon10k(c: &mut Criterion) {
    bench_pool(c, "rayon10k", 2, cheap, true);
    bench_pool(c, "rayon10k_1t", 1, cheap, true);
    bench_pool(c, "rayon10k_work", 2, heavier, false);
}

/// `plain` and `ours` (and, with `read`, `ours_get`) over `ITEMS` items mapped through `work`
/// on a pool of `threads` threads.
fn bench_pool(
    c: &mut Criterion,
    group: &str,
    threads: usize,
    work: impl Fn(u64) -> u64 + Sync + Copy,
    read: bool,
) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool");
    let items: Vec<u64> = (0..ITEMS).collect();
    let _guard = REQUEST.set_guard(7);

    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(ITEMS))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("plain", |b| {
        b.iter(|| {
            let iter = black_box(&items).par_iter();
            pool.install(|| iter.map(|&x| work(x)).sum::<u64>())
        });
    });
    g.bench_function("ours", |b| {
        b.iter(|| {
            let iter = black_box(&items).par_iter().with_current_context();
            pool.install(|| iter.map(|&x| work(x)).sum::<u64>())
        });
    });
    if read {
        g.bench_function("ours_get", |b| {
            b.iter(|| {
                let iter = black_box(&items).par_iter().with_current_context();
                pool.install(|| iter.map(|&x| work(x) + REQUEST.get()).sum::<u64>())
            });
        });
    }
    g.finish();
}

criterion_group!(benches, rayon10k);
criterion_main!(benches);
