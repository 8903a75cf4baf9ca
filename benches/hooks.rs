//! What `contextvars::tokio::inherit_on_spawn` costs per spawn and per poll, next to a plain
//! tokio task and to `contextvars::spawn`, and what the leak check adds to a `set`.
//!
//! Build with `RUSTFLAGS="--cfg tokio_unstable"` (tokio's task hooks need it); without it only
//! the `set` group runs. Every contender runs on a current-thread runtime, in one run:
//!
//! - `spawn10k/<contender>`: spawn 10,000 tasks that each read one variable, then join them;
//! - `poll10k/<contender>`: one task that yields 10,000 times, reading one variable per poll;
//!
//! where `plain` is `tokio::spawn` on a runtime without hooks (the task reads the worker's own
//! context), `helper` is `contextvars::spawn` on the same runtime, and `hooked` is a plain
//! `tokio::spawn` on a runtime built with `inherit_on_spawn`. Criterion reports elements per
//! second; divide the time by 10,000 for one spawn or one poll.
//!
//! `set/leak_check_off` and `set/leak_check_report` set a variable outside any task with the
//! check off (the release default) and on (the debug default).
//!
//! On a machine too busy for criterion, `HOOKS_INTERLEAVED=<rounds>` runs `poll10k/plain` and
//! `poll10k/hooked` instead, a round of each in turn so that both see the same load, and prints
//! the fastest and the median round of each, per poll, and their ratio:
//!
//! ```text
//! HOOKS_INTERLEAVED=300 RUSTFLAGS="--cfg tokio_unstable" CARGO_TARGET_DIR=target/tokio_unstable \
//!   cargo bench -p contextvars-benches --bench hooks
//! ```

use std::hint::black_box;
#[cfg(tokio_unstable)]
use std::time::Duration;

use contextvars::ContextVar;
use contextvars::tokio::{LeakCheck, set_leak_check};
#[cfg(tokio_unstable)]
use criterion::Throughput;
use criterion::{Criterion, criterion_group};
#[cfg(tokio_unstable)]
use tokio::runtime::Runtime;

static VALUE: ContextVar<u64> = ContextVar::with_default("value", || 7);

#[cfg(tokio_unstable)]
const N: u32 = 10_000;

#[cfg(tokio_unstable)]
fn runtimes() -> (Runtime, Runtime) {
    let plain = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut builder = tokio::runtime::Builder::new_current_thread();
    let hooked = contextvars::tokio::inherit_on_spawn(&mut builder)
        .build()
        .expect("a hooked runtime");
    (plain, hooked)
}

#[cfg(tokio_unstable)]
async fn yield_and_read() -> u64 {
    let mut sum = 0;
    for _ in 0..N {
        tokio::task::yield_now().await;
        sum += VALUE.get();
    }
    sum
}

#[cfg(tokio_unstable)]
fn hooks(c: &mut Criterion) {
    let (plain, hooked) = runtimes();
    let cases: [(&str, &Runtime, bool); 3] = [
        ("plain", &plain, false),
        ("helper", &plain, true),
        ("hooked", &hooked, false),
    ];

    contenders(c, "spawn10k", &cases, |helper| async move {
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let task = async { VALUE.get() };
                if helper {
                    contextvars::spawn(task)
                } else {
                    tokio::spawn(task)
                }
            })
            .collect();
        for handle in handles {
            black_box(handle.await.expect("no panic"));
        }
    });

    contenders(c, "poll10k", &cases, |helper| async move {
        let task = if helper {
            contextvars::spawn(yield_and_read())
        } else {
            tokio::spawn(yield_and_read())
        };
        black_box(task.await.expect("no panic"));
    });
}

/// The group `group` of `N` elements, each contender's iteration running `iteration(helper)`
/// to completion on the contender's runtime.
#[cfg(tokio_unstable)]
fn contenders<F: Future<Output = ()>>(
    c: &mut Criterion,
    group: &str,
    cases: &[(&str, &Runtime, bool)],
    iteration: impl Fn(bool) -> F,
) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(u64::from(N)))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1));
    for &(name, runtime, helper) in cases {
        g.bench_function(name, |b| {
            b.iter(|| runtime.block_on(iteration(helper)));
        });
    }
    g.finish();
}

#[cfg(not(tokio_unstable))]
fn hooks(_: &mut Criterion) {
    eprintln!("spawn10k and poll10k need RUSTFLAGS=\"--cfg tokio_unstable\"; skipped");
}

fn set(c: &mut Criterion) {
    let mut g = c.benchmark_group("set");
    for (name, check) in [
        ("leak_check_off", LeakCheck::Off),
        ("leak_check_report", LeakCheck::Report),
    ] {
        set_leak_check(check);
        g.bench_function(name, |b| {
            let mut i = 0_u64;
            b.iter(|| {
                i += 1;
                drop(VALUE.set(black_box(i)));
            });
        });
    }
    set_leak_check(LeakCheck::Off);
    g.finish();
}

/// `poll10k/plain` and `poll10k/hooked` in alternating rounds (see the module docs).
#[cfg(tokio_unstable)]
fn interleaved(rounds: usize) {
    use std::time::Instant;

    /// Nanoseconds per poll of one round on `runtime`.
    fn round(runtime: &Runtime) -> f64 {
        let start = Instant::now();
        runtime.block_on(async {
            black_box(tokio::spawn(yield_and_read()).await.expect("no panic"));
        });
        start.elapsed().as_secs_f64() * 1e9 / f64::from(N)
    }

    let (plain, hooked) = runtimes();
    let (mut plain_ns, mut hooked_ns) = (Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        plain_ns.push(round(&plain));
        hooked_ns.push(round(&hooked));
    }
    plain_ns.sort_by(f64::total_cmp);
    hooked_ns.sort_by(f64::total_cmp);
    let (plain_min, plain_median) = (plain_ns[0], plain_ns[plain_ns.len() / 2]);
    let (hooked_min, hooked_median) = (hooked_ns[0], hooked_ns[hooked_ns.len() / 2]);
    println!(
        "poll10k per poll, {rounds} rounds: plain {plain_min:.1} ns (median {plain_median:.1}), \
         hooked {hooked_min:.1} ns (median {hooked_median:.1}), ratio {:.3} (median {:.3})",
        hooked_min / plain_min,
        hooked_median / plain_median,
    );
}

criterion_group!(benches, hooks, set);

fn main() {
    if let Ok(rounds) = std::env::var("HOOKS_INTERLEAVED") {
        let rounds: usize = rounds
            .parse()
            .expect("HOOKS_INTERLEAVED is a number of rounds");
        #[cfg(tokio_unstable)]
        interleaved(rounds);
        #[cfg(not(tokio_unstable))]
        eprintln!("HOOKS_INTERLEAVED={rounds} needs RUSTFLAGS=\"--cfg tokio_unstable\"");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
