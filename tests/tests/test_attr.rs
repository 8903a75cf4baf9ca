//! `#[contextvars::test]`: the body of a sync or async test runs in a fresh, empty context, and
//! nothing it sets reaches the thread that runs it.
//!
//! A test function stays an ordinary function, so the checks call the attributed functions
//! from other tests, after binding values in the calling thread's context: a body that ran in
//! the thread's own context would see them, and would leave its own changes there.

use std::panic::{AssertUnwindSafe, catch_unwind};

use contextvars::{ContextVar, copy_context};

use contextvars_tests::quiet_panics;

static USER: ContextVar<&str> = ContextVar::with_default("user", || "nobody");
static STEP: ContextVar<u32> = ContextVar::new("step");

#[contextvars::test]
fn sync_body_starts_empty() {
    assert!(copy_context().is_empty());
    assert_eq!(USER.get(), "nobody");
    USER.set("set by the sync test");
    STEP.set(1);
}

#[contextvars::test]
#[tokio::test]
async fn async_body_starts_empty_and_keeps_its_values_across_awaits() {
    assert!(copy_context().is_empty());
    USER.set("set by the async test");
    tokio::task::yield_now().await;
    assert_eq!(USER.get(), "set by the async test");
    let child = contextvars::spawn(async { USER.get() }).await.unwrap();
    assert_eq!(child, "set by the async test");
}

#[contextvars::test]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_body_on_a_multi_thread_runtime() {
    STEP.set(2);
    for _ in 0..10 {
        tokio::task::yield_now().await;
        assert_eq!(STEP.get(), 2);
    }
}

#[contextvars::test(crate = ::contextvars)]
fn result_test_with_question_mark_and_early_return() -> Result<(), std::num::ParseIntError> {
    let step: u32 = "3".parse()?;
    STEP.set(step);
    if STEP.get() == 3 {
        return Ok(());
    }
    unreachable!("returned above");
}

#[contextvars::test]
#[should_panic(expected = "boom in a test")]
fn panicking_test() {
    quiet_panics::quiet();
    USER.set("set before the panic");
    panic!("boom in a test");
}

#[test]
fn attributed_tests_run_in_a_fresh_context_and_leave_the_thread_alone() {
    USER.set("the thread's own");
    let before = copy_context();

    sync_body_starts_empty();
    async_body_starts_empty_and_keeps_its_values_across_awaits();
    async_body_on_a_multi_thread_runtime();
    result_test_with_question_mark_and_early_return().unwrap();
    quiet_panics::must_panic(panicking_test);

    assert!(copy_context().same_bindings(&before));
    assert_eq!(USER.get(), "the thread's own");
    assert!(!STEP.is_set());
}

#[test]
fn a_panicking_test_body_leaves_the_thread_context_as_it_was() {
    STEP.set(40);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        quiet_panics::quiet();
        panicking_test();
    }));
    assert!(outcome.is_err());
    assert_eq!(STEP.get(), 40);
    assert_eq!(USER.get(), "nobody");
}
