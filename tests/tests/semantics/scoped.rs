//! Scoped set (Python 3.14's `with var.set(x):`).

use contextvars::{Context, ContextVar, copy_context};

#[contextvars::test]
fn guard_restores_the_default() {
    static V: ContextVar<i32> = ContextVar::with_default("v", || 42);
    {
        let _guard = V.set_guard(36);
        assert_eq!(V.get(), 36);
    }
    assert_eq!(V.get(), 42);
    assert!(!V.is_set());
}

#[contextvars::test]
fn guard_restores_unset() {
    static V: ContextVar<i32> = ContextVar::new("v");
    {
        let guard = V.set_guard(36);
        assert_eq!(guard.old_value(), None);
    }
    assert!(V.try_get().is_err());
}

#[contextvars::test]
fn guard_restores_on_panic() {
    static V: ContextVar<i32> = ContextVar::with_default("v", || 42);
    let caught = std::panic::catch_unwind(|| {
        let _guard = V.set_guard(36);
        panic!("in the block");
    });
    assert!(caught.is_err());
    assert_eq!(V.get(), 42);
}

#[contextvars::test]
fn guard_restores_the_value_from_before_the_block() {
    static V: ContextVar<i32> = ContextVar::with_default("v", || 42);
    {
        let _guard = V.set_guard(36);
        V.set(24);
        V.set(12);
    }
    assert_eq!(V.get(), 42);
}

#[contextvars::test]
fn another_token_inside_the_block_is_independent() {
    static V: ContextVar<i32> = ContextVar::with_default("v", || 42);
    {
        let _guard = V.set_guard(36);
        let inner = V.set(24);
        V.reset(inner).unwrap();
        assert_eq!(V.get(), 36);
    }
    assert_eq!(V.get(), 42);
}

#[contextvars::test]
fn scope_sets_for_the_closure_only() {
    static V: ContextVar<i32> = ContextVar::with_default("v", || 1);
    assert_eq!(V.scope(2, || V.get() * 10), 20);
    assert_eq!(V.get(), 1);
    let caught = std::panic::catch_unwind(|| V.scope(3, || panic!("in scope")));
    assert!(caught.is_err());
    assert_eq!(V.get(), 1);
}

// Borrowing reads stay valid whatever the closure does.

#[contextvars::test]
fn borrowed_value_survives_changes_made_inside_with() {
    static V: ContextVar<String> = ContextVar::new("v");
    let token = V.set("first".repeat(10));
    V.with(|v| {
        let v = v.unwrap();
        let snapshot = copy_context();
        V.set("second".into());
        drop(snapshot);
        V.reset(V.set("third".into())).unwrap();
        let mut other = Context::new();
        other.run(|| V.set("fourth".into()));
        drop(other);
        assert_eq!(v, &"first".repeat(10));
    });
    assert_eq!(V.get(), "second");
    drop(token);
}

#[contextvars::test]
fn borrowed_value_survives_its_own_reset_inside_with() {
    static V: ContextVar<Vec<u64>> = ContextVar::new("v");
    let token = V.set(vec![7; 100]);
    let outer = V.set(vec![1; 100]);
    V.with(|v| {
        V.reset(outer).unwrap();
        // The token that held the old value is gone too.
        assert_eq!(v.unwrap(), &vec![1; 100]);
    });
    assert_eq!(V.get(), vec![7; 100]);
    V.reset(token).unwrap();
}
