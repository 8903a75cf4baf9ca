//! Contexts as values: a greeting run in three contexts, a context read as a mapping (`len`,
//! `contains`, `get`, iteration), and a helper that finds a binding by the variable's name.
//!
//! Run with `cargo run --example contexts`.

use std::any::Any;

use contextvars::{Context, ContextVar, copy_context};

static NAME: ContextVar<&str> = ContextVar::with_default("name", || "nobody");
static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");
static LOCALE: ContextVar<String> = ContextVar::with_default("locale", || "en".to_owned());
static UNUSED: ContextVar<bool> = ContextVar::new("unused");

fn greet() -> String {
    format!("Hello {}", NAME.get())
}

/// Python's `for name in ["Steve", "Dina", "Harry"]: ctx = copy_context(); ctx.run(...)`, then
/// each context run in reverse order.
fn greet_in_three_contexts() {
    println!("== greet in three contexts");
    let mut contexts: Vec<Context> = ["Steve", "Dina", "Harry"]
        .into_iter()
        .map(|name| {
            let mut ctx = copy_context();
            ctx.run(|| NAME.set(name));
            ctx
        })
        .collect();
    for ctx in contexts.iter_mut().rev() {
        println!("{}", ctx.run(greet));
    }
    println!("outside: {}", greet());
}

/// A context is a read-only mapping of what was set in it; defaults are not in it.
fn mapping_walkthrough() {
    println!("== a context as a mapping");
    let mut ctx = Context::new();
    println!(
        "empty context: len {}, is_empty {}",
        ctx.len(),
        ctx.is_empty()
    );
    ctx.run(|| {
        REQUEST_ID.set(42);
        NAME.set("Dina");
        println!("inside, LOCALE is its default: {}", LOCALE.get());
    });
    println!("len after two sets: {}", ctx.len());
    println!("contains request_id: {}", ctx.contains(&REQUEST_ID));
    println!(
        "contains locale (only a default): {}",
        ctx.contains(&LOCALE)
    );
    println!("contains unused: {}", ctx.contains(&UNUSED));
    println!("get request_id: {:?}", ctx.get(&REQUEST_ID));
    println!("get locale: {:?}", ctx.get(&LOCALE));

    let mut bindings: Vec<String> = ctx
        .iter()
        .map(|(var, value)| format!("{} ({}) = {}", var.name(), var.type_name(), show(value)))
        .collect();
    bindings.sort(); // iteration order is unspecified
    for binding in bindings {
        println!("binding: {binding}");
    }
}

fn show(value: &(dyn Any + Send + Sync)) -> String {
    if let Some(number) = value.downcast_ref::<u64>() {
        number.to_string()
    } else if let Some(text) = value.downcast_ref::<&str>() {
        format!("{text:?}")
    } else {
        "(another type)".to_owned()
    }
}

/// The value `ctx` binds to the variable called `name`, if any: Python's
/// `next(v for k, v in ctx.items() if k.name == name)`. Names need not be unique; the first
/// match wins.
fn lookup<'a>(ctx: &'a Context, name: &str) -> Option<&'a (dyn Any + Send + Sync)> {
    ctx.iter()
        .find(|(var, _)| var.name() == name)
        .map(|(_, value)| value)
}

fn name_lookup() {
    println!("== find a binding by name");
    let mut ctx = copy_context();
    ctx.run(|| {
        REQUEST_ID.set(7);
        NAME.set("Harry");
    });
    for name in ["request_id", "name", "locale"] {
        match lookup(&ctx, name) {
            Some(value) => println!("lookup({name:?}) = {}", show(value)),
            None => println!("lookup({name:?}) = not bound in this context"),
        }
    }
    let id = lookup(&ctx, "request_id").and_then(|value| value.downcast_ref::<u64>());
    assert_eq!(id, Some(&7));
}

fn main() {
    greet_in_three_contexts();
    mapping_walkthrough();
    name_lookup();
}
