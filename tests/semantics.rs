//! The behaviours CPython's `Lib/test/test_context.py` pins (PEP 567), ported one test per
//! behaviour. Each test runs in a fresh empty context, as CPython's "isolated context" tests do,
//! so no test depends on what another left on its thread.

use std::sync::Arc;

use contextvars::{Context, ContextVar, LookupError, ResetErrorKind, copy_context};

fn isolated<R>(f: impl FnOnce() -> R) -> R {
    Context::new().run(f)
}

// B. get / set / reset and Token

#[test]
// `Option::copied` as a path is not general over the borrow's lifetime.
#[allow(clippy::redundant_closure_for_method_calls)]
fn get_without_value_or_default_is_a_lookup_error() {
    static V: ContextVar<i32> = ContextVar::new("v");
    isolated(|| {
        assert_eq!(V.try_get().unwrap_err().name(), "v");
        assert_eq!(V.get_or(7), 7);
        assert_eq!(V.with(|v| v.copied()), None);
        let message = std::panic::catch_unwind(|| V.get()).unwrap_err();
        let message = message.downcast_ref::<String>().unwrap();
        assert!(message.contains("`v`"), "{message}");
        assert!(message.contains("no value"), "{message}");
    });
}

#[test]
fn get_prefers_the_context_value_then_the_default() {
    static V: ContextVar<&str> = ContextVar::with_default("v", || "default");
    isolated(|| {
        assert_eq!(V.get(), "default");
        assert_eq!(V.try_get(), Ok("default"));
        let _token = V.set("set");
        assert_eq!(V.get(), "set");
    });
}

#[test]
fn get_or_fallback_wins_over_the_variable_default() {
    static V: ContextVar<i32> = ContextVar::with_default("v", || 1);
    isolated(|| {
        assert_eq!(V.get_or(2), 2);
        assert_eq!(V.get(), 1);
        let _token = V.set(3);
        assert_eq!(V.get_or(2), 3);
    });
}

#[test]
fn the_default_is_made_once_per_variable() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    static V: ContextVar<Vec<u8>> = ContextVar::with_default("v", || {
        CALLS.fetch_add(1, Ordering::SeqCst);
        vec![1, 2]
    });
    isolated(|| {
        assert_eq!(V.get(), vec![1, 2]);
        assert_eq!(V.get(), vec![1, 2]);
        V.with(|v| assert_eq!(v, Some(&vec![1, 2])));
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn first_set_returns_a_token_with_no_old_value() {
    static V: ContextVar<i32> = ContextVar::new("v");
    isolated(|| {
        let token = V.set(42);
        assert_eq!(V.get(), 42);
        assert_eq!(token.old_value(), None);
        assert_eq!(token.var_name(), "v");
    });
}

#[test]
fn second_set_records_the_old_value_and_reset_restores_it() {
    static V: ContextVar<&str> = ContextVar::new("v");
    isolated(|| {
        let _first = V.set("42");
        let second = V.set("spam");
        assert_eq!(V.get(), "spam");
        assert_eq!(second.old_value(), Some(&"42"));
        V.reset(second).unwrap();
        assert_eq!(V.get(), "42");
    });
}

#[test]
fn reset_restores_snapshot_not_stack() {
    static V: ContextVar<i32> = ContextVar::new("v");
    isolated(|| {
        let first = V.set(1);
        let _second = V.set(2);
        let _third = V.set(3);
        V.reset(first).unwrap();
        assert_eq!(V.try_get().ok(), None, "unset again, whatever came between");
        assert!(!V.is_set());
    });
}

#[test]
fn copies_taken_before_a_reset_keep_the_old_binding() {
    static V: ContextVar<i32> = ContextVar::new("v");
    isolated(|| {
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
    });
}

#[test]
fn copy_taken_after_a_reset_is_empty() {
    static V: ContextVar<i32> = ContextVar::new("v");
    isolated(|| {
        let token = V.set(1);
        V.reset(token).unwrap();
        let after = copy_context();
        assert!(!after.contains(&V));
        assert_eq!(after.get(&V), None);
        assert_eq!(after.len(), 0);
        assert!(after.is_empty());
        assert_eq!(after.iter().count(), 0);
    });
}

#[test]
fn token_of_another_var_is_refused_and_handed_back() {
    static A: ContextVar<i32> = ContextVar::new("a");
    static B: ContextVar<i32> = ContextVar::new("b");
    isolated(|| {
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
    });
}

#[test]
fn token_of_a_var_never_set_is_wrong_var() {
    static A: ContextVar<i32> = ContextVar::new("a");
    static NEVER: ContextVar<i32> = ContextVar::new("never");
    isolated(|| {
        let token = A.set(1);
        let err = NEVER.reset(token).unwrap_err();
        assert_eq!(err.kind(), ResetErrorKind::WrongVar);
        A.reset(err.into_token()).unwrap();
    });
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

#[test]
fn token_of_another_context_is_refused_and_usable_there_later() {
    static V: ContextVar<i32> = ContextVar::new("v");
    isolated(|| {
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
    });
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
    let err = isolated(|| B.reset(token)).unwrap_err();
    assert_eq!(err.kind(), ResetErrorKind::WrongVar);
}

#[test]
fn isolation_is_of_bindings_not_of_objects() {
    static LIST: ContextVar<Arc<std::sync::Mutex<Vec<i32>>>> = ContextVar::new("list");
    isolated(|| {
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
    });
}

// C. Context as a read-only mapping

#[test]
fn copy_context_returns_a_context_with_the_current_bindings() {
    static V: ContextVar<i32> = ContextVar::new("v");
    isolated(|| {
        let _token = V.set(3);
        let ctx: Context = copy_context();
        assert_eq!(ctx.get(&V), Some(3));
        assert_eq!(ctx.get_ref(&V), Some(&3));
    });
}

#[test]
fn mapping_ignores_defaults() {
    static V: ContextVar<i32> = ContextVar::with_default("v", || 1);
    isolated(|| {
        assert_eq!(V.get(), 1);
        let ctx = copy_context();
        assert!(!ctx.contains(&V));
        assert_eq!(ctx.get(&V), None);
        assert_eq!(ctx.len(), 0);
        assert!(ctx.iter().all(|(info, _)| info.name() != "v"));
    });
}

#[test]
fn context_equality_is_by_bindings_not_identity() {
    static V: ContextVar<String> = ContextVar::new("v");
    static N: ContextVar<i32> = ContextVar::new("n");
    let mut ctx1 = Context::new();
    let inner = ctx1.run(|| {
        V.set("one".to_owned());
        copy_context()
    });
    assert!(inner.same_bindings(&ctx1));
    let mut other = Context::new();
    other.run(|| V.set("one".to_owned()));
    assert!(
        !other.same_bindings(&ctx1),
        "a value set twice is two values"
    );
    assert!(Context::new().same_bindings(&Context::default()));

    // Plain values are stored inline and compared by value.
    let (mut a, mut b) = (Context::new(), Context::new());
    a.run(|| N.set(7));
    b.run(|| N.set(7));
    assert!(a.same_bindings(&b));
    b.run(|| N.set(8));
    assert!(!a.same_bindings(&b));
}

#[test]
fn iteration_returns_every_binding_whatever_the_order() {
    let vars: Vec<ContextVar<usize>> = (0..6).map(|_| ContextVar::new("x")).collect();
    let mut ctx = Context::new();
    ctx.run(|| {
        for (i, var) in vars.iter().enumerate() {
            var.set(i);
        }
    });
    let mut seen: Vec<usize> = ctx
        .iter()
        .map(|(_, value)| *value.downcast_ref::<usize>().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2, 3, 4, 5]);
    assert_eq!((&ctx).into_iter().len(), 6);
}

#[test]
fn iteration_reports_names_types_and_inheritance() {
    static NAME: ContextVar<String> = ContextVar::new("name");
    static TX: ContextVar<u8> = ContextVar::new("tx").inherit(false);
    let mut ctx = Context::new();
    ctx.run(|| {
        NAME.set("n".into());
        TX.set(1);
    });
    let mut infos: Vec<_> = ctx
        .iter()
        .map(|(info, _)| (info.name(), info.type_name(), info.inherits()))
        .collect();
    infos.sort_unstable();
    assert_eq!(
        infos,
        [
            ("name", std::any::type_name::<String>(), true),
            ("tx", std::any::type_name::<u8>(), false)
        ]
    );
}

// D. run, copy, nesting

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

#[test]
fn panic_inside_run_propagates_and_restores_the_caller() {
    static V: ContextVar<i32> = ContextVar::new("v");
    isolated(|| {
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
    });
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

#[test]
fn leaving_a_nested_run_restores_the_outer_context_exactly() {
    static V: ContextVar<i32> = ContextVar::new("v");
    static W: ContextVar<i32> = ContextVar::new("w");
    isolated(|| {
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
    });
}

#[test]
fn changes_inside_run_are_contained_even_on_panic() {
    static V: ContextVar<i32> = ContextVar::new("v");
    isolated(|| {
        let mut ctx = copy_context();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ctx.run(|| {
                V.set(1);
                panic!("boom");
            })
        }));
        assert_eq!(V.try_get().ok(), None);
    });
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

// E. Threads

#[test]
fn each_thread_has_its_own_context() {
    static V: ContextVar<usize> = ContextVar::new("v");
    let threads: Vec<_> = (0..10)
        .map(|id| {
            std::thread::spawn(move || {
                assert_eq!(V.try_get().ok(), None, "threads start empty");
                for round in 0..2_000 {
                    let value = id * 1_000_000 + round;
                    V.set(value);
                    if round % 100 == 0 {
                        std::thread::yield_now();
                    }
                    assert_eq!(V.get(), value);
                }
                id
            })
        })
        .collect();
    let ids: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
}

#[test]
fn std_threads_start_empty_and_our_spawn_inherits_a_copy() {
    static V: ContextVar<i32> = ContextVar::new("v");
    isolated(|| {
        let _token = V.set(1);
        assert_eq!(
            std::thread::spawn(|| V.try_get().ok()).join().unwrap(),
            None
        );
        let seen = contextvars::thread::spawn(|| {
            let seen = V.get();
            V.set(2);
            seen
        })
        .join()
        .unwrap();
        assert_eq!(seen, 1);
        assert_eq!(V.get(), 1, "the thread's changes do not flow back");
    });
}

#[test]
fn thread_spawn_takes_the_copy_at_the_call() {
    static V: ContextVar<i32> = ContextVar::new("v");
    isolated(|| {
        let token = V.set(1);
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let thread = contextvars::thread::spawn(move || {
            wait.recv().unwrap();
            V.get()
        });
        V.reset(token).unwrap();
        V.set(5);
        go.send(()).unwrap();
        assert_eq!(thread.join().unwrap(), 1);
    });
}

#[test]
fn thread_spawn_with_an_explicit_or_empty_context() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let mut given = Context::new();
    given.run(|| V.set(2));
    let seen = contextvars::thread::spawn_with_context(given, || V.get())
        .join()
        .unwrap();
    assert_eq!(seen, 2);
    let seen: Result<i32, LookupError> =
        contextvars::thread::spawn_with_context(Context::new(), || V.try_get())
            .join()
            .unwrap();
    assert_eq!(seen.unwrap_err().name(), "v");
}

#[test]
fn non_inheriting_variables_start_from_default_in_threads() {
    static TX: ContextVar<i32> = ContextVar::with_default("tx", || 0).inherit(false);
    static REQ: ContextVar<i32> = ContextVar::with_default("req", || 0);
    isolated(|| {
        let _tx = TX.set(7);
        let _req = REQ.set(8);
        let seen = contextvars::thread::spawn(|| (TX.get(), REQ.get()))
            .join()
            .unwrap();
        assert_eq!(seen, (0, 8));
        assert_eq!(
            copy_context().get(&TX),
            Some(7),
            "copy_context keeps everything"
        );
        assert_eq!(Context::inherited().get(&TX), None);
    });
}

// F. Scoped set (Python 3.14's `with var.set(x):`)

#[test]
fn guard_restores_the_default() {
    static V: ContextVar<i32> = ContextVar::with_default("v", || 42);
    isolated(|| {
        {
            let _guard = V.set_guard(36);
            assert_eq!(V.get(), 36);
        }
        assert_eq!(V.get(), 42);
        assert!(!V.is_set());
    });
}

#[test]
fn guard_restores_unset() {
    static V: ContextVar<i32> = ContextVar::new("v");
    isolated(|| {
        {
            let guard = V.set_guard(36);
            assert_eq!(guard.old_value(), None);
        }
        assert!(V.try_get().is_err());
    });
}

#[test]
fn guard_restores_on_panic() {
    static V: ContextVar<i32> = ContextVar::with_default("v", || 42);
    isolated(|| {
        let caught = std::panic::catch_unwind(|| {
            let _guard = V.set_guard(36);
            panic!("in the block");
        });
        assert!(caught.is_err());
        assert_eq!(V.get(), 42);
    });
}

#[test]
fn guard_restores_the_value_from_before_the_block() {
    static V: ContextVar<i32> = ContextVar::with_default("v", || 42);
    isolated(|| {
        {
            let _guard = V.set_guard(36);
            V.set(24);
            V.set(12);
        }
        assert_eq!(V.get(), 42);
    });
}

#[test]
fn another_token_inside_the_block_is_independent() {
    static V: ContextVar<i32> = ContextVar::with_default("v", || 42);
    isolated(|| {
        {
            let _guard = V.set_guard(36);
            let inner = V.set(24);
            V.reset(inner).unwrap();
            assert_eq!(V.get(), 36);
        }
        assert_eq!(V.get(), 42);
    });
}

#[test]
fn scope_sets_for_the_closure_only() {
    static V: ContextVar<i32> = ContextVar::with_default("v", || 1);
    isolated(|| {
        assert_eq!(V.scope(2, || V.get() * 10), 20);
        assert_eq!(V.get(), 1);
        let caught = std::panic::catch_unwind(|| V.scope(3, || panic!("in scope")));
        assert!(caught.is_err());
        assert_eq!(V.get(), 1);
    });
}

// Borrowing reads stay valid whatever the closure does.

#[test]
fn borrowed_value_survives_changes_made_inside_with() {
    static V: ContextVar<String> = ContextVar::new("v");
    isolated(|| {
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
    });
}

#[test]
fn borrowed_value_survives_its_own_reset_inside_with() {
    static V: ContextVar<Vec<u64>> = ContextVar::new("v");
    isolated(|| {
        let token = V.set(vec![7; 100]);
        let outer = V.set(vec![1; 100]);
        V.with(|v| {
            V.reset(outer).unwrap();
            // The token that held the old value is gone too.
            assert_eq!(v.unwrap(), &vec![1; 100]);
        });
        assert_eq!(V.get(), vec![7; 100]);
        V.reset(token).unwrap();
    });
}
