//! Get / set / reset and Token.

use std::sync::Arc;

use contextvars::{Context, ContextVar, ResetErrorKind, copy_context};

#[contextvars::test]
// `Option::copied` as a path is not general over the borrow's lifetime.
#[allow(clippy::redundant_closure_for_method_calls)]
fn get_without_value_or_default_is_a_lookup_error() {
    static V: ContextVar<i32> = ContextVar::new("v");
    assert_eq!(V.try_get().unwrap_err().name(), "v");
    assert_eq!(V.get_or(7), 7);
    assert_eq!(V.with(|v| v.copied()), None);
    let message = std::panic::catch_unwind(|| V.get()).unwrap_err();
    let message = message.downcast_ref::<String>().unwrap();
    assert!(message.contains("`v`"), "{message}");
    assert!(message.contains("no value"), "{message}");
}

#[contextvars::test]
fn get_prefers_the_context_value_then_the_default() {
    static V: ContextVar<&str> = ContextVar::with_default("v", || "default");
    assert_eq!(V.get(), "default");
    assert_eq!(V.try_get(), Ok("default"));
    let _token = V.set("set");
    assert_eq!(V.get(), "set");
}

#[contextvars::test]
fn get_or_fallback_wins_over_the_variable_default() {
    static V: ContextVar<i32> = ContextVar::with_default("v", || 1);
    assert_eq!(V.get_or(2), 2);
    assert_eq!(V.get(), 1);
    let _token = V.set(3);
    assert_eq!(V.get_or(2), 3);
}

#[contextvars::test]
fn the_default_is_made_once_per_variable() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    static V: ContextVar<Vec<u8>> = ContextVar::with_default("v", || {
        CALLS.fetch_add(1, Ordering::SeqCst);
        vec![1, 2]
    });
    assert_eq!(V.get(), vec![1, 2]);
    assert_eq!(V.get(), vec![1, 2]);
    V.with(|v| assert_eq!(v, Some(&vec![1, 2])));
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
}

#[contextvars::test]
fn first_set_returns_a_token_with_no_old_value() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let token = V.set(42);
    assert_eq!(V.get(), 42);
    assert_eq!(token.old_value(), None);
    assert_eq!(token.var_name(), "v");
}

#[contextvars::test]
fn second_set_records_the_old_value_and_reset_restores_it() {
    static V: ContextVar<&str> = ContextVar::new("v");
    let _first = V.set("42");
    let second = V.set("spam");
    assert_eq!(V.get(), "spam");
    assert_eq!(second.old_value(), Some(&"42"));
    V.reset(second).unwrap();
    assert_eq!(V.get(), "42");
}

#[contextvars::test]
fn reset_restores_snapshot_not_stack() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let first = V.set(1);
    let _second = V.set(2);
    let _third = V.set(3);
    V.reset(first).unwrap();
    assert_eq!(V.try_get().ok(), None, "unset again, whatever came between");
    assert!(!V.is_set());
}

#[contextvars::test]
fn copies_taken_before_a_reset_keep_the_old_binding() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let token = V.set(1);
    let before = copy_context();
    V.reset(token).unwrap();
    assert!(before.contains(&V));
    assert_eq!(before.get(&V), Some(1));
    assert_eq!(before.len(), 1);
    let values: Vec<i32> = before
        .iter()
        .map(|(info, value)| {
            assert_eq!(info.name(), "v");
            *value.downcast_ref::<i32>().unwrap()
        })
        .collect();
    assert_eq!(values, [1]);
}

#[contextvars::test]
fn copy_taken_after_a_reset_is_empty() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let token = V.set(1);
    V.reset(token).unwrap();
    let after = copy_context();
    assert!(!after.contains(&V));
    assert_eq!(after.get(&V), None);
    assert_eq!(after.len(), 0);
    assert!(after.is_empty());
    assert_eq!(after.iter().count(), 0);
}

#[contextvars::test]
fn token_of_another_var_is_refused_and_handed_back() {
    static A: ContextVar<i32> = ContextVar::new("a");
    static B: ContextVar<i32> = ContextVar::new("b");
    let _b = B.set(5);
    let token = A.set(1);
    let err = B.reset(token).unwrap_err();
    assert_eq!(err.kind(), ResetErrorKind::WrongVar);
    assert!(err.to_string().contains("different ContextVar"), "{err}");
    assert!(err.to_string().contains("`b`"), "{err}");
    assert_eq!(
        (A.get(), B.get()),
        (1, 5),
        "a refused reset changes nothing"
    );
    A.reset(err.into_token()).unwrap();
    assert_eq!(A.try_get().ok(), None);
}

#[contextvars::test]
fn token_of_a_var_never_set_is_wrong_var() {
    static A: ContextVar<i32> = ContextVar::new("a");
    static NEVER: ContextVar<i32> = ContextVar::new("never");
    let token = A.set(1);
    let err = NEVER.reset(token).unwrap_err();
    assert_eq!(err.kind(), ResetErrorKind::WrongVar);
    A.reset(err.into_token()).unwrap();
}

#[test]
fn reset_removes_and_never_stores_the_default() {
    static V: ContextVar<i32> = ContextVar::with_default("v", || 9);
    let mut ctx = Context::new();
    ctx.run(|| {
        assert_eq!(V.get(), 9);
    });
    assert!(!ctx.contains(&V));
    assert_eq!(ctx.get(&V), None);
    assert_eq!(ctx.iter().count(), 0);
    let token = ctx.run(|| V.set(1));
    assert_eq!(ctx.get(&V), Some(1));
    assert_eq!(
        ctx.iter().map(|(info, _)| info.name()).collect::<Vec<_>>(),
        ["v"]
    );
    ctx.run(|| V.reset(token)).unwrap();
    assert!(!ctx.contains(&V));
    assert_eq!(ctx.get(&V), None);
    assert_eq!(ctx.len(), 0);
}

#[contextvars::test]
fn token_of_another_context_is_refused_and_usable_there_later() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let mut ctx = Context::new();
    let token = ctx.run(|| V.set(1));
    let err = V.reset(token).unwrap_err();
    assert_eq!(err.kind(), ResetErrorKind::WrongContext);
    assert!(err.to_string().contains("different Context"), "{err}");
    assert_eq!(V.try_get().ok(), None, "the caller's context is untouched");
    assert_eq!(ctx.get(&V), Some(1), "and so is the token's context");
    let token = err.into_token();
    ctx.run(|| V.reset(token)).unwrap();
    assert_eq!(ctx.get(&V), None);
}

#[test]
fn a_copy_is_another_context_even_when_equal() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let mut ctx = Context::new();
    let token = ctx.run(|| V.set(1));
    let mut copy = ctx.clone();
    assert!(copy.same_bindings(&ctx));
    let err = copy.run(|| V.reset(token)).unwrap_err();
    assert_eq!(err.kind(), ResetErrorKind::WrongContext);
    assert_eq!(copy.get(&V), Some(1));
    ctx.run(|| V.reset(err.into_token())).unwrap();
}

#[test]
fn wrong_var_is_checked_before_wrong_context() {
    static A: ContextVar<i32> = ContextVar::new("a");
    static B: ContextVar<i32> = ContextVar::new("b");
    let mut ctx = Context::new();
    let token = ctx.run(|| {
        B.set(0);
        A.set(1)
    });
    let err = Context::new().run(|| B.reset(token)).unwrap_err();
    assert_eq!(err.kind(), ResetErrorKind::WrongVar);
}

#[contextvars::test]
fn isolation_is_of_bindings_not_of_objects() {
    static LIST: ContextVar<Arc<std::sync::Mutex<Vec<i32>>>> = ContextVar::new("list");
    let _outer = LIST.set(Arc::default());
    let mut child = copy_context();
    child.run(|| {
        let _inner = LIST.set(Arc::default());
        LIST.get().lock().unwrap().push(1);
    });
    assert!(LIST.get().lock().unwrap().is_empty());
    // A value bound in both is one shared object: copies are shallow.
    let mut shared = copy_context();
    shared.run(|| LIST.get().lock().unwrap().push(2));
    assert_eq!(*LIST.get().lock().unwrap(), [2]);
}
