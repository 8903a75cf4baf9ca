//! Run, copy, nesting.

use contextvars::{Context, ContextVar, copy_context};

#[test]
fn run_returns_the_closure_result_and_keeps_changes() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let mut ctx = Context::new();
    let arg = 20;
    let result = ctx.run(|| {
        V.set(arg + 1);
        arg * 2
    });
    assert_eq!(result, 40);
    assert_eq!(ctx.get(&V), Some(21));
    assert_eq!(ctx.run(|| V.get()), 21);
}

#[contextvars::test]
fn panic_inside_run_propagates_and_restores_the_caller() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let _outer = V.set(1);
    let mut ctx = Context::new();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ctx.run(|| {
            V.set(2);
            panic!("inside run");
        })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside run"));
    assert_eq!(V.get(), 1, "the caller's context is back");
    assert_eq!(
        ctx.get(&V),
        Some(2),
        "changes made before the panic stay in ctx"
    );
}

#[test]
fn nested_runs_of_different_contexts_are_isolated() {
    static V: ContextVar<&str> = ContextVar::new("v");
    let mut ctx1 = Context::new();
    let mut ctx2 = Context::new();
    let inner_copy = ctx1.run(|| {
        assert_eq!(V.try_get().ok(), None);
        V.set("spam");
        ctx2.run(|| assert_eq!(V.try_get().ok(), None));
        assert_eq!(V.get(), "spam");
        let copy = copy_context();
        assert_eq!(copy.len(), 1);
        assert_eq!(copy.get(&V), Some("spam"));
        copy
    });
    assert!(ctx1.same_bindings(&inner_copy));
    assert!(ctx1.contains(&V));
    assert!(ctx2.is_empty());
}

#[contextvars::test]
fn leaving_a_nested_run_restores_the_outer_context_exactly() {
    static V: ContextVar<i32> = ContextVar::new("v");
    static W: ContextVar<i32> = ContextVar::new("w");
    let token = V.set(1);
    let before = copy_context();
    let mut inner = Context::new();
    inner.run(|| {
        W.set(2);
        let mut innermost = copy_context();
        innermost.run(|| V.set(3));
    });
    assert!(copy_context().same_bindings(&before));
    // The outer context's identity came back too: its token still resets.
    V.reset(token).unwrap();
}

#[contextvars::test]
fn changes_inside_run_are_contained_even_on_panic() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let mut ctx = copy_context();
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ctx.run(|| {
            V.set(1);
            panic!("boom");
        })
    }));
    assert_eq!(V.try_get().ok(), None);
}

#[test]
fn code_inside_run_sees_every_change_at_once() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let mut ctx = Context::new();
    ctx.run(|| {
        for i in 0..5 {
            V.set(i);
            assert_eq!(V.get(), i);
            assert_eq!(copy_context().get(&V), Some(i));
        }
    });
}

#[test]
fn clone_is_a_snapshot() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let mut ctx1 = Context::new();
    let mut copy = ctx1.run(|| {
        V.set(10);
        let copy = copy_context();
        assert_eq!(copy.get(&V), Some(10));
        V.set(20);
        assert_eq!(copy.get(&V), Some(10));
        copy
    });
    assert_eq!(ctx1.get(&V), Some(20));
    copy.run(|| {
        assert_eq!(V.get(), 10);
        V.set(30);
    });
    assert_eq!(ctx1.get(&V), Some(20));
    assert_eq!(copy.get(&V), Some(30));
    let mut cloned = ctx1.clone();
    cloned.run(|| V.set(40));
    assert_eq!((ctx1.get(&V), cloned.get(&V)), (Some(20), Some(40)));
}

#[test]
fn a_context_can_be_entered_again_and_from_another_thread() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let mut ctx = Context::new();
    ctx.run(|| V.set(1));
    let mut ctx = std::thread::spawn(move || {
        ctx.run(|| {
            assert_eq!(V.get(), 1);
            V.set(2);
        });
        ctx
    })
    .join()
    .unwrap();
    assert_eq!(ctx.run(|| V.get()), 2);
}
