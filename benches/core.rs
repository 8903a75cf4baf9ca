//! Hot paths of `contextvars` next to their peers, in one run.
//!
//! Every group measures our operation next to the closest thing each peer offers, with the same
//! value types (`u64`, `Arc<str>`) and the same work per iteration:
//!
//! - `thread_local!` `Cell` / `RefCell`: the floor (no context at all);
//! - `tokio::task_local!`, read inside `sync_scope`;
//! - `opentelemetry::Context` (its thread-local stack of immutable contexts).
//!
//! Benchmark ids are `<group>/<contender>.<what>[/<context size>]`, where the contender is `ours`,
//! `tls`, `tokio`, `otel` or `model` (a plain `Arc`, for what one refcount costs here).
//! `scripts/bench_report.py` reads them back by those ids, so rename there too.
//!
//! Sized cases run in a fresh [`Context`] holding exactly `N` runtime variables (all set once in
//! `ctx.run`), and the timing loop itself runs inside `ctx.run`, so `run`'s own cost is not in
//! those figures. `set` overwrites a variable that is already bound, as CPython's bench does.
//! Everything a measured operation returns (tokens, snapshots, guards) is dropped inside the
//! timed region: dropping is part of the cost.

use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::sync::Arc;

use contextvars::{Context, ContextVar, copy_context};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// Context sizes (number of bound variables) for the sized groups.
const SIZES: [usize; 6] = [1, 8, 64, 1024, 10_000, 100_000];

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A context holding exactly `vars.len()` bindings, of the variables in `vars`.
struct Fixture {
    n: usize,
    vars: Vec<ContextVar<u64>>,
    ctx: Context,
}

impl Fixture {
    fn new(n: usize) -> Fixture {
        let vars: Vec<ContextVar<u64>> = (0..n).map(|_| ContextVar::new("v")).collect();
        let mut ctx = Context::new();
        ctx.run(|| {
            for (i, var) in vars.iter().enumerate() {
                drop(var.set(i as u64));
            }
        });
        assert_eq!(ctx.len(), n);
        Fixture { n, vars, ctx }
    }

    /// The variable the sized benches touch: one in the middle of the key space.
    fn var(&self) -> &ContextVar<u64> {
        &self.vars[self.n / 2]
    }
}

fn fixtures() -> Vec<Fixture> {
    SIZES.iter().map(|&n| Fixture::new(n)).collect()
}

// Our variables for the unsized `get` group.
static U64: ContextVar<u64> = ContextVar::new("u64");
static ARC: ContextVar<Arc<str>> = ContextVar::new("arc");
static DEF_U64: ContextVar<u64> = ContextVar::with_default("def_u64", || 7);
static DEF_ARC: ContextVar<Arc<str>> = ContextVar::with_default("def_arc", || Arc::from("default"));
/// Never set anywhere: has no key, so a read skips the map entirely.
static DEF_NEVER_SET: ContextVar<u64> = ContextVar::with_default("def_never_set", || 7);

thread_local! {
    static TL_CELL: Cell<u64> = const { Cell::new(7) };
    static TL_U64: RefCell<Option<u64>> = const { RefCell::new(Some(7)) };
    static TL_ARC: RefCell<Option<Arc<str>>> = RefCell::new(Some(Arc::from("value")));
}

tokio::task_local! {
    static TK_U64: u64;
    static TK_ARC: Arc<str>;
}

fn arc_value() -> Arc<str> {
    Arc::from("value")
}

// ---------------------------------------------------------------------------------------------
// get

fn bench_get(c: &mut Criterion) {
    let mut g = c.benchmark_group("get");

    // Our context: U64 and ARC bound, plus 6 fillers (8 bindings). The default variables were
    // set once in another context, so they have keys and a read is a real lookup miss, like
    // CPython's (whose misses are not cached either).
    let fillers: Vec<ContextVar<u64>> = (0..6).map(|_| ContextVar::new("filler")).collect();
    Context::new().run(|| {
        drop(DEF_U64.set(0));
        drop(DEF_ARC.set(arc_value()));
    });
    let mut ctx = Context::new();
    ctx.run(|| {
        drop(U64.set(7));
        drop(ARC.set(arc_value()));
        for f in &fillers {
            drop(f.set(0));
        }
    });
    assert_eq!(ctx.len(), 8);

    ctx.run(|| {
        // The closure hands back a `u64`, as tokio's does: a `black_box` of the `Option<u64>`
        // itself measured a store-forwarding stall of the benchmark's own making.
        g.bench_function("ours.with_u64", |b| {
            b.iter(|| U64.with(|v| black_box(v.map_or(0, |v| *v))));
        });
        g.bench_function("ours.get_u64", |b| b.iter(|| black_box(U64.get())));
        g.bench_function("ours.with_arc_str", |b| {
            b.iter(|| ARC.with(|v| black_box(v.map(|s| s.len()))));
        });
        g.bench_function("ours.get_arc_str", |b| b.iter(|| black_box(ARC.get())));
        g.bench_function("ours.default_with_u64", |b| {
            b.iter(|| DEF_U64.with(|v| black_box(v.map_or(0, |v| *v))));
        });
        g.bench_function("ours.default_get_u64", |b| {
            b.iter(|| black_box(DEF_U64.get()));
        });
        g.bench_function("ours.default_get_arc_str", |b| {
            b.iter(|| black_box(DEF_ARC.get()));
        });
        g.bench_function("ours.default_never_set_get_u64", |b| {
            b.iter(|| black_box(DEF_NEVER_SET.get()));
        });
    });

    // thread_local!: the floor.
    g.bench_function("tls.cell_get_u64", |b| {
        b.iter(|| black_box(TL_CELL.with(Cell::get)));
    });
    g.bench_function("tls.refcell_with_u64", |b| {
        b.iter(|| TL_U64.with(|v| black_box(*v.borrow())));
    });
    g.bench_function("tls.refcell_with_arc_str", |b| {
        b.iter(|| TL_ARC.with(|v| black_box(v.borrow().as_ref().map(|s| s.len()))));
    });
    g.bench_function("tls.refcell_get_arc_str", |b| {
        b.iter(|| TL_ARC.with(|v| black_box(v.borrow().clone())));
    });

    // tokio::task_local!, inside a scope.
    TK_U64.sync_scope(7, || {
        TK_ARC.sync_scope(arc_value(), || {
            g.bench_function("tokio.with_u64", |b| {
                b.iter(|| TK_U64.with(|v| black_box(*v)));
            });
            g.bench_function("tokio.get_u64", |b| b.iter(|| black_box(TK_U64.get())));
            g.bench_function("tokio.with_arc_str", |b| {
                b.iter(|| TK_ARC.with(|v| black_box(v.len())));
            });
            g.bench_function("tokio.get_arc_str", |b| b.iter(|| black_box(TK_ARC.get())));
        });
    });
    // The closest thing tokio has to a default: `try_with` outside any scope.
    g.bench_function("tokio.try_with_outside_scope_u64", |b| {
        b.iter(|| black_box(TK_U64.try_with(|v| *v).unwrap_or(7)));
    });

    // opentelemetry::Context: values keyed by type.
    {
        let _guard = opentelemetry::Context::new()
            .with_value(7u64)
            .with_value(arc_value())
            .attach();
        g.bench_function("otel.map_current_with_u64", |b| {
            b.iter(|| opentelemetry::Context::map_current(|c| black_box(c.get::<u64>().copied())));
        });
        g.bench_function("otel.current_get_u64", |b| {
            b.iter(|| black_box(opentelemetry::Context::current().get::<u64>().copied()));
        });
        g.bench_function("otel.map_current_with_arc_str", |b| {
            b.iter(|| {
                opentelemetry::Context::map_current(|c| {
                    black_box(c.get::<Arc<str>>().map(|s| s.len()))
                })
            });
        });
        g.bench_function("otel.map_current_get_arc_str", |b| {
            b.iter(|| {
                opentelemetry::Context::map_current(|c| black_box(c.get::<Arc<str>>().cloned()))
            });
        });
        g.bench_function("otel.current_get_arc_str", |b| {
            b.iter(|| black_box(opentelemetry::Context::current().get::<Arc<str>>().cloned()));
        });
        // A type the current context does not hold: otel's "default".
        g.bench_function("otel.map_current_missing_u32", |b| {
            b.iter(|| opentelemetry::Context::map_current(|c| black_box(c.get::<u32>().copied())));
        });
    }
    g.finish();
}

/// `with` of one variable in contexts of every size: how lookup scales.
fn bench_get_sized(c: &mut Criterion, fixtures: &mut [Fixture]) {
    let mut g = c.benchmark_group("get_sized");
    for fx in fixtures.iter_mut() {
        let Fixture { n, vars, ctx } = fx;
        let var = &vars[*n / 2];
        ctx.run(|| {
            g.bench_with_input(BenchmarkId::new("ours.with_u64", *n), n, |b, _| {
                b.iter(|| var.with(|v| black_box(v.map_or(0, |v| *v))));
            });
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// set

fn bench_set(c: &mut Criterion, fixtures: &mut [Fixture]) {
    let mut g = c.benchmark_group("set");
    for fx in fixtures.iter_mut() {
        let n = fx.n;
        let Fixture { vars, ctx, .. } = fx;
        let var = &vars[n / 2];
        ctx.run(|| {
            // No snapshot alive: the context owns its map alone.
            g.bench_with_input(BenchmarkId::new("ours.set_in_place", n), &n, |b, _| {
                let mut i = 0u64;
                b.iter(|| {
                    i += 1;
                    drop(var.set(black_box(i)));
                });
            });
            // A snapshot taken before every set and dropped after it: the set copies the path
            // the snapshot shares, and the snapshot's drop frees the old path. Nothing is
            // subtracted; `copy_only` below is the snapshot's own share.
            g.bench_with_input(BenchmarkId::new("ours.copy_then_set", n), &n, |b, _| {
                let mut i = 0u64;
                b.iter(|| {
                    i += 1;
                    let snapshot = copy_context();
                    drop(var.set(black_box(i)));
                    drop(black_box(snapshot));
                });
            });
            g.bench_with_input(BenchmarkId::new("ours.copy_only", n), &n, |b, _| {
                b.iter(|| drop(black_box(copy_context())));
            });
        });
    }

    // Peers: no notion of context size.
    g.bench_function("tls.refcell_store_u64", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            TL_U64.with(|v| *v.borrow_mut() = Some(black_box(i)));
        });
    });
    g.bench_function("tls.refcell_store_arc_str", |b| {
        let value = arc_value();
        b.iter(|| TL_ARC.with(|v| drop(v.borrow_mut().replace(black_box(&value).clone()))));
    });
    g.bench_function("otel.current_with_value_attach_drop_u64", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            drop(opentelemetry::Context::current_with_value(black_box(i)).attach());
        });
    });
    g.finish();
}

fn bench_set_reset(c: &mut Criterion, fixtures: &mut [Fixture]) {
    let mut g = c.benchmark_group("set_reset");
    for fx in fixtures.iter_mut() {
        let n = fx.n;
        let Fixture { vars, ctx, .. } = fx;
        let var = &vars[n / 2];
        ctx.run(|| {
            g.bench_with_input(BenchmarkId::new("ours.set_reset", n), &n, |b, _| {
                let mut i = 0u64;
                b.iter(|| {
                    i += 1;
                    let token = var.set(black_box(i));
                    var.reset(token).unwrap();
                });
            });
        });
    }
    g.bench_function("tokio.sync_scope_u64", |b| {
        b.iter(|| TK_U64.sync_scope(black_box(1), || black_box(())));
    });
    g.bench_function("tls.refcell_store_restore_u64", |b| {
        b.iter(|| {
            TL_U64.with(|v| {
                let old = v.replace(Some(black_box(1)));
                black_box(());
                *v.borrow_mut() = old;
            });
        });
    });
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// copy_context, run, ctx.get

fn bench_copy(c: &mut Criterion, fixtures: &mut [Fixture]) {
    let mut g = c.benchmark_group("copy_context");
    for fx in fixtures.iter_mut() {
        let n = fx.n;
        fx.ctx.run(|| {
            g.bench_with_input(BenchmarkId::new("ours.copy_context", n), &n, |b, _| {
                b.iter(|| drop(black_box(copy_context())));
            });
        });
    }
    {
        let _guard = opentelemetry::Context::new().with_value(7u64).attach();
        g.bench_function("otel.current", |b| {
            b.iter(|| drop(black_box(opentelemetry::Context::current())));
        });
    }
    g.bench_function("model.arc_clone_drop", |b| {
        let arc = Arc::new(7u64);
        b.iter(|| drop(black_box(Arc::clone(black_box(&arc)))));
    });
    g.finish();
}

fn bench_run(c: &mut Criterion, fixtures: &mut [Fixture]) {
    let mut g = c.benchmark_group("run");
    let fx = fixtures
        .iter_mut()
        .find(|fx| fx.n == 8)
        .expect("an 8-variable fixture");
    let f = || black_box(());
    g.bench_function("ours.run_empty", |b| b.iter(|| fx.ctx.run(black_box(f))));
    g.bench_function("bare.call_empty", |b| b.iter(|| (black_box(f))()));
    g.bench_function("tokio.sync_scope_u64", |b| {
        b.iter(|| TK_U64.sync_scope(black_box(1), black_box(f)));
    });
    g.finish();
}

fn bench_ctx_get(c: &mut Criterion, fixtures: &mut [Fixture]) {
    let mut g = c.benchmark_group("ctx_get");
    for fx in fixtures.iter() {
        let n = fx.n;
        let var = fx.var();
        let ctx = &fx.ctx;
        g.bench_with_input(BenchmarkId::new("ours.ctx_get_u64", n), &n, |b, _| {
            b.iter(|| black_box(black_box(ctx).get(var)));
        });
    }
    let cx = opentelemetry::Context::new().with_value(7u64);
    g.bench_function("otel.cx_get_u64", |b| {
        b.iter(|| black_box(black_box(&cx).get::<u64>().copied()));
    });
    g.finish();
}

/// Sixteen declared variables, for `reset_module!`.
mod sixteen {
    use contextvars::context_var;

    #[context_var(default = 0)]
    pub static V0: u64;
    #[context_var(default = 0)]
    pub static V1: u64;
    #[context_var(default = 0)]
    pub static V2: u64;
    #[context_var(default = 0)]
    pub static V3: u64;
    #[context_var(default = 0)]
    pub static V4: u64;
    #[context_var(default = 0)]
    pub static V5: u64;
    #[context_var(default = 0)]
    pub static V6: u64;
    #[context_var(default = 0)]
    pub static V7: u64;
    #[context_var(default = 0)]
    pub static V8: u64;
    #[context_var(default = 0)]
    pub static V9: u64;
    #[context_var(default = 0)]
    pub static V10: u64;
    #[context_var(default = 0)]
    pub static V11: u64;
    #[context_var(default = 0)]
    pub static V12: u64;
    #[context_var(default = 0)]
    pub static V13: u64;
    #[context_var(default = 0)]
    pub static V14: u64;
    #[context_var(default = 0)]
    pub static V15: u64;
}

/// Binds the 16 declared variables to `i`, as 16 plain `set`s (tokens dropped).
fn set_sixteen(i: u64) {
    use sixteen::{V0, V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14, V15};
    for var in [
        &V0, &V1, &V2, &V3, &V4, &V5, &V6, &V7, &V8, &V9, &V10, &V11, &V12, &V13, &V14, &V15,
    ] {
        drop(var.set(black_box(i)));
    }
}

fn bench_reset_module(c: &mut Criterion) {
    let mut g = c.benchmark_group("reset_module");
    let mut ctx = Context::new();
    ctx.run(|| {
        set_sixteen(1);
        assert_eq!(contextvars::reset_module!(sixteen), 16);
        g.bench_function("ours.reset_module_16", |b| {
            b.iter(|| black_box(contextvars::reset_module!(sixteen)));
        });
        // The same 16 rebinds as plain `set`s: what Python code without reset_module does.
        g.bench_function("ours.set_16", |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                set_sixteen(i);
            });
        });
    });
    assert_eq!(ctx.len(), 16);
    // A fresh context's first binds, as a request's: the map's first allocations and its growth
    // to 4 and to 16 variables, dropped with the context.
    for n in [4, 16] {
        g.bench_with_input(BenchmarkId::new("ours.fresh_fill", n), &n, |b, &n| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                let mut fresh = Context::new();
                fresh.run(|| set_first(n, i));
                drop(black_box(fresh));
            });
        });
    }
    g.finish();
}

/// Binds the first `n` of the 16 declared variables to `i`.
fn set_first(n: usize, i: u64) {
    use sixteen::{V0, V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14, V15};
    for var in [
        &V0, &V1, &V2, &V3, &V4, &V5, &V6, &V7, &V8, &V9, &V10, &V11, &V12, &V13, &V14, &V15,
    ]
    .into_iter()
    .take(n)
    {
        drop(var.set(black_box(i)));
    }
}

fn all(c: &mut Criterion) {
    bench_get(c);
    let mut fixtures = fixtures();
    bench_get_sized(c, &mut fixtures);
    bench_set(c, &mut fixtures);
    bench_set_reset(c, &mut fixtures);
    bench_copy(c, &mut fixtures);
    bench_run(c, &mut fixtures);
    bench_ctx_get(c, &mut fixtures);
    bench_reset_module(c);
}

criterion_group!(benches, all);
criterion_main!(benches);
