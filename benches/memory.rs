//! Memory held by a context: live heap bytes per bound variable and per snapshot.
//!
//! A counting global allocator (the test support one) tracks live bytes (requested sizes; the allocator's own
//! per-block overhead is not included). For each size N, on a fresh thread:
//!
//! 1. make N runtime `ContextVar<u64>`s (their own storage is not counted);
//! 2. bind them all in a new `Context` (`ctx.run` + `set`): the growth divided by N is the
//!    bytes per variable held in a context (map nodes + the stored values);
//! 3. take a snapshot (`ctx.clone()`, the same as `copy_context()` inside it): its growth is
//!    the cost of an unchanged snapshot;
//! 4. set one variable in `ctx` while the snapshot is alive: the growth is what a snapshot
//!    costs once the two diverge by one binding (the path copied by the set);
//! 5. the same after setting every variable: the two contexts share nothing but values.
//!
//! Prints a markdown table and fails when a figure is outside a sane bound.

// Byte counts far below 2^52: the casts are exact.
#![allow(clippy::cast_precision_loss)]

use contextvars::{Context, ContextVar, copy_context};
use contextvars_tests::counting_alloc::{Counting, process_live_bytes as live};

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Row {
    n: usize,
    per_var: f64,
    snapshot: isize,
    snapshot_after_one_set: isize,
    snapshot_after_all_set: isize,
    copy_context: isize,
    freed_on_drop: bool,
}

fn measure(n: usize) -> Row {
    // A fresh thread, so nothing else on it allocates meanwhile.
    std::thread::spawn(move || {
        let vars: Vec<ContextVar<u64>> = (0..n).map(|_| ContextVar::new("v")).collect();
        // Warm the thread's own state (its current context and parked list) first.
        drop(vars[0].set(0));
        drop(copy_context());

        let before = live();
        let mut ctx = Context::new();
        ctx.run(|| {
            for (i, var) in vars.iter().enumerate() {
                drop(var.set(i as u64));
            }
        });
        let bound = live();
        let per_var = (bound - before) as f64 / n as f64;

        let snapshot = ctx.clone();
        let with_snapshot = live();
        ctx.run(|| drop(vars[n / 2].set(u64::MAX)));
        let after_one_set = live();
        ctx.run(|| {
            for var in &vars {
                drop(var.set(u64::MAX));
            }
        });
        let after_all_set = live();
        drop(snapshot);

        let copy = ctx.run(|| {
            let start = live();
            let copy = copy_context();
            let grown = live() - start;
            drop(copy);
            grown
        });

        drop(ctx);
        let freed_on_drop = live() == before;
        Row {
            n,
            per_var,
            snapshot: with_snapshot - bound,
            snapshot_after_one_set: after_one_set - bound,
            snapshot_after_all_set: after_all_set - bound,
            copy_context: copy,
            freed_on_drop,
        }
    })
    .join()
    .expect("measuring thread")
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too, which is fine.
    let rows: Vec<Row> = [1, 64, 10_000, 100_000].into_iter().map(measure).collect();

    println!(
        "| variables N | bytes per variable held | snapshot (unchanged) | snapshot after 1 set | snapshot after N sets, per variable | copy_context() | all freed on drop |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.1} | {} B | {} B | {:.1} B | {} B | {} |",
            r.n,
            r.per_var,
            r.snapshot,
            r.snapshot_after_one_set,
            r.snapshot_after_all_set as f64 / r.n as f64,
            r.copy_context,
            if r.freed_on_drop { "yes" } else { "no" },
        );
    }
    println!();
    println!(
        "Live heap bytes as requested from the allocator (malloc's per-block overhead not included); u64 values."
    );

    for r in &rows {
        assert!(
            r.per_var < 256.0,
            "N={}: {:.1} bytes per variable",
            r.n,
            r.per_var
        );
        assert!(
            r.snapshot <= 64,
            "N={}: an unchanged snapshot holds {} bytes",
            r.n,
            r.snapshot
        );
        assert!(
            r.copy_context <= 64,
            "N={}: copy_context allocates {} bytes",
            r.n,
            r.copy_context
        );
        assert!(
            r.snapshot_after_one_set <= 4096,
            "N={}: one set under a snapshot copies {} bytes",
            r.n,
            r.snapshot_after_one_set
        );
        assert!(r.freed_on_drop, "N={}: dropping the context leaks", r.n);
    }
}
