//! Items, join branches, scope jobs and spawned jobs see the caller's values; each item runs in
//! a copy of its own; a pool thread keeps nothing a job set, also after a panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::mpsc;

use contextvars::{ContextVar, copy_context};
use contextvars_rayon::ParallelIteratorExt;
use rayon::prelude::*;

static REQUEST: ContextVar<u64> = ContextVar::with_default("request", || 0);
static TRANSACTION: ContextVar<u64> = ContextVar::new("transaction").inherit(false);

fn new_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// Whether every thread of `pool` has an empty context of its own.
fn workers_are_clean(pool: &rayon::ThreadPool) -> bool {
    pool.broadcast(|_| copy_context().is_empty())
        .into_iter()
        .all(|clean| clean)
}

#[test]
fn ten_thousand_items_each_see_the_callers_value() {
    let _guard = REQUEST.set_guard(41);
    let seen: Vec<u64> = (0..10_000u64)
        .into_par_iter()
        .with_current_context()
        .map(|_| REQUEST.get())
        .collect();
    assert_eq!(seen.len(), 10_000);
    assert!(seen.iter().all(|&value| value == 41));
}

#[test]
fn each_item_runs_in_a_copy_of_its_own() {
    let _guard = REQUEST.set_guard(5);
    let seen: Vec<(u64, u64)> = (0..10_000u64)
        .into_par_iter()
        .with_current_context()
        .map(|i| {
            let before = REQUEST.get();
            REQUEST.set(i + 1000);
            (before, REQUEST.get() - 1000)
        })
        .collect();
    let expected: Vec<(u64, u64)> = (0..10_000).map(|i| (5, i)).collect();
    assert_eq!(seen, expected);
    assert_eq!(REQUEST.get(), 5);
}

#[test]
fn variables_that_do_not_inherit_start_from_their_default() {
    let _request = REQUEST.set_guard(1);
    let _transaction = TRANSACTION.set_guard(2);
    let seen: Vec<(u64, Option<u64>)> = (0..100)
        .into_par_iter()
        .with_current_context()
        .map(|_| (REQUEST.get(), TRANSACTION.try_get().ok()))
        .collect();
    assert!(seen.iter().all(|&pair| pair == (1, None)));
}

#[test]
fn a_job_that_sets_values_leaves_nothing_on_the_pool_threads() {
    let pool = new_pool(2);

    // Control: a plain job does leave values behind, which is what the check must see.
    pool.install(|| {
        (0..10_000u64).into_par_iter().for_each(|i| {
            REQUEST.set(i);
        });
    });
    assert!(!workers_are_clean(&pool));

    let pool = new_pool(2);
    let _guard = REQUEST.set_guard(7);
    contextvars_rayon::install(&pool, || {
        (0..10_000u64)
            .into_par_iter()
            .with_current_context()
            .for_each(|i| {
                REQUEST.set(i);
                TRANSACTION.set(i);
            });
        // Run in a copy of the caller's context, the closure's own changes stay out too.
        REQUEST.set(8);
    });
    assert!(workers_are_clean(&pool));
    let next: Vec<Option<u64>> = pool.install(|| {
        (0..1000)
            .into_par_iter()
            .map(|_| copy_context().get(&REQUEST))
            .collect()
    });
    assert!(next.iter().all(Option::is_none), "{next:?}");
    assert_eq!(REQUEST.get(), 7);
}

#[test]
fn fold_and_reduce_closures_run_in_the_context() {
    let _guard = REQUEST.set_guard(3);
    let sum = (0..1000u64)
        .into_par_iter()
        .with_current_context()
        .fold(|| REQUEST.get(), |acc, _| acc + REQUEST.get())
        .reduce(|| 0, |a, b| a + b);
    // Every fold starts from 3 and adds 3 per item: 3 per item plus 3 per fold.
    assert_eq!(sum % 3, 0);
    assert!(sum >= 3 * 1001);

    let product = (0..1000u64)
        .into_par_iter()
        .with_current_context()
        .map(|_| 1)
        .reduce(|| REQUEST.get() - 2, |a, b| a * b * (REQUEST.get() - 2));
    assert_eq!(product, 1);
}

#[test]
fn join_branches_see_the_callers_value_and_keep_their_changes() {
    let _guard = REQUEST.set_guard(11);
    let pool = new_pool(2);
    let (a, b) = contextvars_rayon::install(&pool, || {
        contextvars_rayon::join(
            || {
                let seen = REQUEST.get();
                REQUEST.set(100);
                (seen, REQUEST.get())
            },
            || {
                std::thread::yield_now();
                REQUEST.get()
            },
        )
    });
    assert_eq!((a, b), ((11, 100), 11));
    assert_eq!(REQUEST.get(), 11);
    assert!(workers_are_clean(&pool));

    let (plain_a, plain_b) = pool.install(|| rayon::join(|| REQUEST.get(), || REQUEST.get()));
    assert_eq!(
        (plain_a, plain_b),
        (0, 0),
        "rayon's own join sees the pool's context"
    );
}

#[test]
fn scope_and_spawn_jobs_see_the_context_where_they_were_spawned() {
    let pool = new_pool(2);
    let seen = Mutex::new(Vec::new());
    let _guard = REQUEST.set_guard(20);
    contextvars_rayon::scope(|s| {
        for i in 0..10 {
            let _inner = REQUEST.set_guard(21 + i);
            let seen = &seen;
            s.spawn(move |s| {
                seen.lock().unwrap().push(REQUEST.get());
                REQUEST.set(1);
                s.spawn(move |_| seen.lock().unwrap().push(REQUEST.get() + 1000));
            });
        }
    });
    let mut seen = seen.into_inner().unwrap();
    seen.sort_unstable();
    let mut expected: Vec<u64> = (21..31).chain(std::iter::repeat_n(1001, 10)).collect();
    expected.sort_unstable();
    assert_eq!(seen, expected);

    let (done, received) = mpsc::channel();
    contextvars_rayon::install(&pool, || {
        contextvars_rayon::spawn(move || {
            done.send(REQUEST.get()).unwrap();
            REQUEST.set(99);
        });
    });
    assert_eq!(received.recv().unwrap(), 20);
    assert_eq!(REQUEST.get(), 20);
}

#[test]
fn panic_in_an_item_leaves_every_context_as_it_was() {
    let pool = new_pool(2);
    let _guard = REQUEST.set_guard(9);
    let before = copy_context();
    let panic = catch_unwind(AssertUnwindSafe(|| {
        contextvars_rayon::install(&pool, || {
            (0..10_000u64)
                .into_par_iter()
                .with_current_context()
                .for_each(|i| {
                    REQUEST.set(i);
                    assert_ne!(i, 5000, "boom in item {i}");
                });
        });
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<String>().map_or("", String::as_str);
    assert!(message.contains("boom in item 5000"), "{message}");
    assert!(copy_context().same_bindings(&before));
    assert!(workers_are_clean(&pool));
    let after: Vec<u64> = (0..1000)
        .into_par_iter()
        .with_current_context()
        .map(|_| REQUEST.get())
        .collect();
    assert!(after.iter().all(|&value| value == 9));
}
