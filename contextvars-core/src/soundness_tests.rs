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
