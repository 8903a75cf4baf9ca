//! The rules of `current.rs` (entered contexts, borrowing reads, parked values) exercised on
//! small programs, so that Miri checks the unsafe code behind them: a `with` borrow outliving
//! the binding it came from, panics in every place that holds the thread state, and contexts and
//! values moving between threads.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Context, ContextVar, FutureExt, copy_context};

static NAME: ContextVar<String> = ContextVar::new("name");
static OTHER: ContextVar<Vec<u32>> = ContextVar::with_default("other", Vec::new);

struct Counted(Arc<AtomicUsize>, String);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_borrow_outlives_the_set_reset_and_drop_that_displace_its_value() {
    Context::new().run(|| {
        let first = NAME.set("first".to_owned());
        NAME.with(|outer| {
            let outer = outer.expect("bound");
            let token = NAME.set("second".to_owned());
            NAME.with(|inner| {
                NAME.reset(token).unwrap();
                OTHER.set(vec![1, 2, 3]);
                assert_eq!(inner.map(String::as_str), Some("second"));
            });
            NAME.reset(NAME.set("third".to_owned())).unwrap();
            let mut ctx = copy_context();
            ctx.run(|| NAME.set("in a copy".to_owned()));
            drop(ctx);
            assert_eq!(outer, "first");
        });
        NAME.reset(first).unwrap();
        assert!(!NAME.is_set());
    });
}

#[test]
fn a_borrow_outlives_the_token_and_runtime_variable_that_held_its_value() {
    let drops = Arc::new(AtomicUsize::new(0));
    let held = ContextVar::new("held");
    held.set(Counted(drops.clone(), "kept".to_owned()));
    let seen = held.with(|value| {
        // The token is now the only holder of the borrowed value; dropping it parks the value.
        drop(held.set(Counted(drops.clone(), "new".to_owned())));
        let temporary = ContextVar::new("temporary");
        temporary.set(Counted(drops.clone(), "temporary".to_owned()));
        drop(temporary);
        assert_eq!(drops.load(Ordering::SeqCst), 0, "parked while borrowed");
        value.map(|v| v.1.clone())
    });
    assert_eq!(seen.as_deref(), Some("kept"));
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    drop(held);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

#[test]
fn panics_in_run_with_and_poll_leave_the_thread_state_sound() {
    NAME.set("base".to_owned());
    let before = copy_context();
    let mut ctx = Context::new();
    let result = catch_unwind(AssertUnwindSafe(|| {
        ctx.run(|| {
            NAME.set("run".to_owned());
            NAME.with(|value| {
                OTHER.set(vec![9]);
                NAME.set("displaced while borrowed".to_owned());
                // Displaced while borrowed: still readable until `with` returns or unwinds.
                assert_eq!(value.map(String::as_str), Some("run"));
                panic!("in with")
            })
        })
    }));
    assert!(result.is_err());
    assert!(copy_context().same_bindings(&before));
    assert_eq!(ctx.get(&NAME).as_deref(), Some("displaced while borrowed"));

    let mut future = Box::pin(
        async {
            NAME.set("task".to_owned());
            panic!("in poll")
        }
        .with_current_context(),
    );
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let polled = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)));
    assert!(polled.is_err());
    assert!(copy_context().same_bindings(&before));
    assert_eq!(future.context().get(&NAME).as_deref(), Some("task"));
    drop(future);

    NAME.with(|value| assert_eq!(value.map(String::as_str), Some("base")));
}

#[test]
fn contexts_and_tokens_move_between_threads() {
    let mut ctx = Context::new();
    let token = ctx.run(|| NAME.set("main".to_owned()));
    let (ctx, token) = std::thread::spawn(move || {
        let mut ctx = ctx;
        NAME.set("thread".to_owned());
        ctx.run(|| {
            NAME.with(|value| assert_eq!(value.map(String::as_str), Some("main")));
            OTHER.set(vec![4]);
        });
        (ctx, token)
    })
    .join()
    .unwrap();
    let mut ctx = ctx;
    ctx.run(|| NAME.reset(token)).unwrap();
    assert!(!ctx.contains(&NAME));
    assert_eq!(ctx.get(&OTHER), Some(vec![4]));
    let seen = crate::thread::spawn(|| OTHER.get()).join().unwrap();
    assert!(seen.is_empty(), "this thread never set it");
}

/// The per-thread read cache behind `get` of plain values: every way the current context can
/// change must be seen by the next read, for variables sharing cache slots too.
#[test]
fn cached_reads_see_every_change_of_the_current_context() {
    let vars: Vec<ContextVar<u64>> = (0..9).map(|_| ContextVar::new("n")).collect();
    let defaulted = ContextVar::with_default("d", || 5u64);
    Context::new().run(|| {
        for (i, var) in (0u64..).zip(&vars) {
            assert_eq!(var.try_get().ok(), None);
            var.set(i);
        }
        // Each read fills a slot; reading all of them again evicts each other.
        for _ in 0..2 {
            for (i, var) in (0u64..).zip(&vars) {
                assert_eq!(var.get(), i);
            }
        }
        let token = vars[3].set(30);
        assert_eq!(vars[3].get(), 30);
        vars[3].reset(token).unwrap();
        assert_eq!(vars[3].get(), 3);

        assert_eq!(defaulted.get(), 5);
        let token = defaulted.set(6);
        assert_eq!(defaulted.get(), 6);
        defaulted.reset(token).unwrap();
        assert_eq!(defaulted.get(), 5);

        let mut snapshot = copy_context();
        vars[0].set(100);
        assert_eq!(vars[0].get(), 100);
        snapshot.run(|| {
            assert_eq!(vars[0].get(), 0);
            vars[0].set(200);
            assert_eq!(vars[0].get(), 200);
        });
        assert_eq!(vars[0].get(), 100);
        Context::new().run(|| assert_eq!(vars[0].try_get().ok(), None));
        assert_eq!(vars[0].get(), 100);

        // A `with` closure that rebinds the variable it reads: later reads see the new value.
        vars[1].with(|value| {
            assert_eq!(value, Some(&1));
            vars[1].set(11);
            assert_eq!(vars[1].get(), 11);
        });
        assert_eq!(vars[1].get(), 11);

        // A variable dropped takes its binding out of the current context, which a later
        // variable (with a key of its own) does not see.
        let mut vars = vars;
        assert_eq!(vars[8].get(), 8);
        let before = copy_context().len();
        drop(vars.pop());
        assert_eq!(copy_context().len(), before - 1);
        let fresh = ContextVar::<u64>::new("fresh");
        assert_eq!(fresh.try_get().ok(), None);
        assert_eq!(vars[7].get(), 7);
    });
}

/// `sum` and other folds drive `run_items` through its `fold`: each item still starts from
/// the template, whatever the item before it set.
#[test]
fn folding_template_items_resets_between_items() {
    static N: ContextVar<u64> = ContextVar::with_default("n", || 1);
    let mut template = crate::ContextTemplate::new(Context::new());
    let total: u64 = template.run_items(0..50u64, |items| {
        items
            .map(|i| {
                let seen = N.get();
                N.set(seen + i + 1000);
                if i % 7 == 0 {
                    // A token gives the working copy an identity: the next item needs a new one.
                    let _token = N.set(5);
                }
                seen
            })
            .sum()
    });
    assert_eq!(total, 50);
    assert_eq!(N.get(), 1);
}
