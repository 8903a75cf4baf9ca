//! Context as a read-only mapping.

use contextvars::{Context, ContextVar, copy_context};

#[contextvars::test]
fn copy_context_returns_a_context_with_the_current_bindings() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let _token = V.set(3);
    let ctx: Context = copy_context();
    assert_eq!(ctx.get(&V), Some(3));
    assert_eq!(ctx.get_ref(&V), Some(&3));
}

#[contextvars::test]
fn mapping_ignores_defaults() {
    static V: ContextVar<i32> = ContextVar::with_default("v", || 1);
    assert_eq!(V.get(), 1);
    let ctx = copy_context();
    assert!(!ctx.contains(&V));
    assert_eq!(ctx.get(&V), None);
    assert_eq!(ctx.len(), 0);
    assert!(ctx.iter().all(|(info, _)| info.name() != "v"));
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
