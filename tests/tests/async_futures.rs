//! Wrapped futures without a runtime: each poll runs in the future's own context, on any
//! executor and any thread.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{self, Poll, Waker};

use contextvars::{Context, ContextVar, FutureExt, ResetErrorKind, copy_context, join_all};
use futures::executor::block_on;

static USER: ContextVar<&'static str> = ContextVar::with_default("user", || "nobody");
static COUNT: ContextVar<u32> = ContextVar::with_default("count", || 0);
static TRANSACTION: ContextVar<u32> = ContextVar::new("transaction").inherit(false);

use contextvars_tests::yield_once;

use yield_once::yield_once;

fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut task::Context::from_waker(Waker::noop()))
}

#[test]
fn value_set_before_await_is_there_after_it() {
    let task = async {
        USER.set("dina");
        yield_once().await;
        yield_once().await;
        USER.get()
    };
    assert_eq!(block_on(task.with_current_context()), "dina");
    assert!(!USER.is_set());
}

#[test]
fn with_current_context_copies_the_caller_at_the_call() {
    let _token = USER.set("caller");
    let task = async { USER.get() }.with_current_context();
    let _later = USER.set("changed after the call");
    assert_eq!(block_on(task), "caller");
}

#[test]
fn wrapped_sibling_futures_joined_in_one_task_are_isolated() {
    async fn handle(ticket: &'static str, yields: usize) -> (&'static str, &'static str) {
        let token = USER.set(ticket);
        for _ in 0..yields {
            yield_once().await;
        }
        let after = USER.get();
        USER.reset(token).unwrap();
        (after, USER.get())
    }
    let _token = USER.set("caller");
    let both = futures::future::join(
        handle("TICKET-A", 3).with_current_context(),
        handle("TICKET-B", 1).with_current_context(),
    );
    assert_eq!(
        block_on(both),
        (("TICKET-A", "caller"), ("TICKET-B", "caller"))
    );
    assert_eq!(USER.get(), "caller");
}

#[test]
fn unwrapped_futures_share_the_context_of_whoever_polls_them() {
    let _token = USER.set("thread");
    let (seen_by_b, after) = block_on(async {
        let a = async {
            USER.set("set by a");
        };
        let b = async {
            yield_once().await;
            USER.get()
        };
        let ((), seen_by_b) = futures::future::join(a, b).await;
        (seen_by_b, USER.get())
    });
    assert_eq!(seen_by_b, "set by a");
    assert_eq!(after, "set by a");
    assert_eq!(USER.get(), "set by a"); // leaked into the polling thread's context
}

#[test]
fn join_all_isolates_siblings_and_keeps_input_order() {
    let _user = USER.set("caller");
    let _transaction = TRANSACTION.set(7);
    let branches = (0..5u32).map(|i| async move {
        let inherited = (USER.get(), TRANSACTION.try_get().ok());
        COUNT.set(i);
        // Later inputs finish first.
        for _ in 0..(5 - i) {
            yield_once().await;
            assert_eq!(COUNT.get(), i);
        }
        USER.set("branch");
        (inherited, COUNT.get())
    });
    let outputs = block_on(join_all(branches));
    let expected: Vec<_> = (0..5).map(|i| (("caller", None), i)).collect();
    assert_eq!(outputs, expected);
    assert_eq!((USER.get(), COUNT.get()), ("caller", 0));
    assert_eq!(TRANSACTION.get(), 7);
}

#[test]
fn join_all_of_nothing_is_ready_at_once() {
    let empty: Vec<std::future::Ready<u8>> = Vec::new();
    assert_eq!(poll_once(pin!(join_all(empty))), Poll::Ready(Vec::new()));
}

#[test]
fn with_context_sees_exactly_that_context() {
    let _user = USER.set("caller");
    let _transaction = TRANSACTION.set(7);
    let task = async { (USER.get(), TRANSACTION.try_get().ok()) };
    assert_eq!(
        block_on(task.with_context(copy_context())),
        ("caller", Some(7))
    );
    let task = async { (USER.get(), TRANSACTION.try_get().ok()) };
    assert_eq!(block_on(task.with_current_context()), ("caller", None));
    let task = async { (USER.get(), TRANSACTION.try_get().ok()) };
    assert_eq!(
        block_on(task.with_context(Context::new())),
        ("nobody", None)
    );
}

#[test]
fn the_context_of_a_wrapped_future_holds_its_changes_between_polls_and_after() {
    let mut task = Box::pin(
        async {
            USER.set("inside");
            yield_once().await;
            COUNT.set(2);
        }
        .with_context(Context::new()),
    );
    assert_eq!(poll_once(task.as_mut()), Poll::Pending);
    assert_eq!(task.context().get(&USER), Some("inside"));
    assert!(!task.context().contains(&COUNT));
    assert_eq!(poll_once(task.as_mut()), Poll::Ready(()));
    // The async block cannot be unpinned; the context can still be moved out.
    let ctx = std::mem::take(task.as_mut().context_mut());
    assert_eq!((ctx.get(&USER), ctx.get(&COUNT)), (Some("inside"), Some(2)));
    assert!(!USER.is_set());
}

#[test]
fn into_inner_returns_the_future_and_its_context() {
    let mut task = Box::pin(async { COUNT.set(4) }).with_context(Context::new());
    assert!(poll_once(Pin::new(&mut task)).is_ready());
    let (_finished, ctx) = task.into_inner();
    assert_eq!(ctx.get(&COUNT), Some(4));
    assert!(!COUNT.is_set());
}

#[test]
fn run_future_keeps_the_changes_in_the_borrowed_context() {
    let mut ctx = Context::new();
    ctx.run(|| USER.set("before"));
    let seen = block_on(async {
        ctx.run_future(async {
            let seen = USER.get();
            yield_once().await;
            COUNT.set(3);
            seen
        })
        .await
    });
    assert_eq!(seen, "before");
    assert_eq!(ctx.get(&COUNT), Some(3));
    assert!(!COUNT.is_set());
}

#[test]
fn panic_inside_poll_leaves_the_thread_context_as_it_was() {
    let _user = USER.set("outer");
    let before = copy_context();
    let mut task = pin!(
        async {
            USER.set("inner");
            COUNT.set(1);
            panic!("boom inside poll");
        }
        .with_context(Context::new())
    );
    let result = catch_unwind(AssertUnwindSafe(|| poll_once(task.as_mut())));
    assert!(result.is_err());
    assert!(copy_context().same_bindings(&before));
    assert_eq!((USER.get(), COUNT.get()), ("outer", 0));
    // As with `Context::run`, what was set before the panic stays in the future's context.
    assert_eq!(task.context().get(&USER), Some("inner"));

    let result = catch_unwind(|| {
        block_on(
            async {
                COUNT.set(9);
                yield_once().await;
                panic!("boom after an await");
            }
            .with_current_context(),
        );
    });
    assert!(result.is_err());
    assert!(copy_context().same_bindings(&before));
}

#[test]
fn token_made_before_await_resets_after_it_on_another_thread() {
    let _user = USER.set("caller");
    let mut task = Box::pin(
        async {
            let token = USER.set("task");
            let first = std::thread::current().id();
            yield_once().await;
            let moved = std::thread::current().id() != first;
            let reset = USER.reset(token);
            (moved, reset.is_ok(), USER.get())
        }
        .with_current_context(),
    );
    assert_eq!(poll_once(task.as_mut()), Poll::Pending);
    let output = std::thread::spawn(move || block_on(task)).join().unwrap();
    assert_eq!(output, (true, true, "caller"));
    assert_eq!(USER.get(), "caller");
}

#[test]
fn token_reset_in_another_task_is_wrong_context_and_changes_nothing() {
    let mut first = Box::pin(
        async {
            let token = USER.set("first");
            yield_once().await;
            token
        }
        .with_current_context(),
    );
    let Poll::Ready(token) = ({
        assert!(poll_once(first.as_mut()).is_pending());
        poll_once(first.as_mut())
    }) else {
        panic!("the first task finishes on its second poll");
    };
    let second = async move {
        USER.set("second");
        let error = USER.reset(token).unwrap_err();
        (error.kind(), USER.get(), error.into_token())
    };
    let (kind, after, token) = block_on(second.with_current_context());
    assert_eq!(kind, ResetErrorKind::WrongContext);
    assert_eq!(after, "second");
    // The token still works in the task that made it.
    let ctx = first.as_mut().context_mut();
    assert_eq!(
        ctx.run(|| (USER.reset(token).is_ok(), USER.get())),
        (true, "nobody")
    );
}

#[test]
fn a_pending_future_is_dropped_inside_its_context() {
    struct ReadOnDrop(Arc<Mutex<Option<&'static str>>>);
    impl Drop for ReadOnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(USER.get());
        }
    }

    let _user = USER.set("thread");
    let seen = Arc::new(Mutex::new(None));
    let probe = ReadOnDrop(Arc::clone(&seen));
    let mut ctx = Context::new();
    ctx.run(|| USER.set("task"));
    {
        let mut task = pin!(ctx.run_future(async move {
            let _probe = probe;
            let _guard = COUNT.set_guard(5);
            yield_once().await;
        }));
        assert!(poll_once(task.as_mut()).is_pending());
        assert_eq!(task.context().get(&COUNT), Some(5));
    }
    // Dropping the pending future ran its destructors in its own context: the probe read the
    // task's value and the guard reset the task's binding, not the thread's.
    assert_eq!(*seen.lock().unwrap(), Some("task"));
    assert!(!ctx.contains(&COUNT));
    assert_eq!(USER.get(), "thread");
}
