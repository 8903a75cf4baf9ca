//! `bind`, `bind_each`, `Context::bind` and `ContextTemplate`: a closure captures the context
//! when it is made and runs in it later, on any thread; nothing it sets reaches the caller, the
//! thread that runs it, or the next call; a panic inside leaves every context as it was.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use contextvars::{
    Context, ContextTemplate, ContextVar, ResetErrorKind, bind, bind_each, copy_context,
};

static REQUEST: ContextVar<u32> = ContextVar::with_default("request", || 0);
static TRANSACTION: ContextVar<u32> = ContextVar::new("transaction").inherit(false);

use contextvars_tests::quiet_panics;

use quiet_panics::must_panic;

#[test]
fn bind_captures_at_the_call_not_at_the_run() {
    let token = REQUEST.set(1);
    let job = bind(|| REQUEST.get());
    REQUEST.reset(token).unwrap();
    REQUEST.set(2);
    assert_eq!(job(), 1);
    assert_eq!(REQUEST.get(), 2);
}

#[test]
fn bound_closure_runs_in_its_context_on_a_pool_thread_and_leaves_the_pool_clean() {
    type Job = Box<dyn FnOnce() -> (u32, u32) + Send>;
    let (jobs, queue) = mpsc::channel::<Job>();
    // The pool thread reads its own context after every job: a bound job must leave it empty.
    let pool = std::thread::spawn(move || {
        queue
            .iter()
            .map(|job| {
                let seen = job();
                assert!(
                    copy_context().is_empty(),
                    "a job left values on the pool thread"
                );
                seen
            })
            .collect::<Vec<_>>()
    });
    for request in 1..=3 {
        let _guard = REQUEST.set_guard(request);
        jobs.send(Box::new(bind(move || {
            let seen = REQUEST.get();
            REQUEST.set(seen * 100);
            (seen, REQUEST.get())
        })))
        .unwrap();
    }
    drop(jobs);
    assert_eq!(pool.join().unwrap(), [(1, 100), (2, 200), (3, 300)]);
    assert_eq!(REQUEST.get(), 0);
}

#[test]
fn bind_leaves_out_variables_that_do_not_inherit() {
    REQUEST.set(5);
    TRANSACTION.set(9);
    let job = bind(|| (REQUEST.get(), TRANSACTION.try_get().ok()));
    assert_eq!(job(), (5, None));
    let read = || (REQUEST.get(), TRANSACTION.try_get().ok());
    assert_eq!(copy_context().bind(read)(), (5, Some(9)));
    assert_eq!(Context::new().bind(read)(), (0, None));
}

#[test]
fn bind_each_gives_every_call_a_fresh_copy_even_concurrently() {
    REQUEST.set(7);
    let call = bind_each(|| {
        let seen = REQUEST.get();
        REQUEST.set(seen + 1);
        std::thread::yield_now();
        (seen, REQUEST.get())
    });
    let seen: Vec<(u32, u32)> = std::thread::scope(|scope| {
        let call = &call;
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(move || (0..50).map(|_| call()).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap())
            .collect()
    });
    assert_eq!(seen.len(), 400);
    assert!(seen.iter().all(|&pair| pair == (7, 8)), "{seen:?}");
    assert_eq!(call(), (7, 8));
    assert_eq!(REQUEST.get(), 7);
}

#[test]
fn template_discards_each_runs_changes() {
    REQUEST.set(3);
    let mut template = ContextTemplate::new(Context::inherited());
    for _ in 0..5 {
        let seen = template.run(|| {
            let seen = (REQUEST.get(), TRANSACTION.try_get().ok());
            REQUEST.set(seen.0 + 10);
            TRANSACTION.set(1);
            seen
        });
        assert_eq!(seen, (3, None));
    }
    // Reads only, then a write after several reads: the copy reused by reading runs is fresh.
    for _ in 0..3 {
        assert_eq!(template.run(|| REQUEST.get()), 3);
    }
    assert_eq!(
        template.run(|| REQUEST.set(4).old_value().copied()),
        Some(3)
    );
    assert_eq!(template.run(|| REQUEST.get()), 3);
    assert_eq!(template.context().get(&REQUEST), Some(3));
}

#[test]
fn token_from_one_template_run_is_for_another_context_in_the_next() {
    let mut template = ContextTemplate::new(Context::new());
    // A set and its reset leave the bindings as they were, but the run made a token: the next
    // run must still be a different context.
    let token = template.run(|| {
        let token = REQUEST.set(1);
        REQUEST.reset(token).unwrap();
        REQUEST.set(2)
    });
    let err = template.run(|| REQUEST.reset(token)).unwrap_err();
    assert_eq!(err.kind(), ResetErrorKind::WrongContext);
    let token = template.run(|| {
        let token = REQUEST.set(1);
        REQUEST.reset(token).unwrap();
        REQUEST.set(5)
    });
    let err = template.run(|| REQUEST.reset(token)).unwrap_err();
    assert_eq!(err.kind(), ResetErrorKind::WrongContext);
}

#[test]
fn panic_in_a_bound_closure_leaves_every_context_as_it_was() {
    REQUEST.set(1);
    let before = copy_context();

    must_panic(bind(|| {
        REQUEST.set(2);
        panic!("boom in bind");
    }));
    assert!(copy_context().same_bindings(&before));

    let each = bind_each(|| {
        REQUEST.set(REQUEST.get() + 1);
        assert_ne!(REQUEST.get(), 2, "boom in bind_each");
        REQUEST.get()
    });
    must_panic(&each);
    must_panic(&each); // the failed call left nothing behind: the next one starts from 1 again
    assert!(copy_context().same_bindings(&before));

    let mut template = ContextTemplate::new(copy_context());
    must_panic(|| {
        template.run(|| {
            REQUEST.set(50);
            panic!("boom in a template run");
        })
    });
    assert_eq!(template.run(|| REQUEST.get()), 1);
    assert!(template.context().same_bindings(&before));

    // On another thread, the thread's own context is untouched too.
    let job = bind(|| {
        REQUEST.set(3);
        panic!("boom on a pool thread");
    });
    let after = std::thread::spawn(move || {
        REQUEST.set(40);
        let outcome = catch_unwind(AssertUnwindSafe(job));
        (outcome.is_err(), REQUEST.get())
    })
    .join()
    .unwrap();
    assert_eq!(after, (true, 40));
    assert!(copy_context().same_bindings(&before));
    assert_eq!(REQUEST.get(), 1);
}

#[test]
fn template_items_each_start_fresh_and_leave_other_contexts_alone() {
    REQUEST.set(2);
    let mut template = ContextTemplate::new(Context::inherited());
    let seen: Vec<u32> = template.run_items(0..100, |items| {
        items
            .map(|i| {
                let seen = REQUEST.get();
                REQUEST.set(i);
                seen
            })
            .collect()
    });
    assert_eq!(seen, [2; 100]);

    // Taking an item inside another context leaves that context as it was.
    let mut other = Context::new();
    let kept = template.run_items(0..2, |mut items| {
        other.run(|| {
            REQUEST.set(50);
            items.next();
            REQUEST.get()
        })
    });
    assert_eq!(kept, 50);
    assert_eq!(other.get(&REQUEST), Some(50));

    must_panic(|| {
        template.run_items(0..10, |items| {
            for i in items {
                REQUEST.set(100 + i);
                assert_ne!(i, 5, "boom in item {i}");
            }
        });
    });
    assert_eq!(
        template.run_items(0..1, |mut items| {
            items.next();
            REQUEST.get()
        }),
        2
    );
    assert_eq!(REQUEST.get(), 2);
}
