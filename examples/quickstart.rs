//! Python's `contextvars` examples, in Rust: a `user_id` walk-through of get / set /
//! reset, two threads each with its own ticket, and a greeting run in three contexts.
//!
//! Run with `cargo run --example quickstart`.

use std::time::Duration;

use contextvars::{Context, ContextVar, copy_context};

static USER_ID: ContextVar<u64> = ContextVar::with_default("user_id", || 0);
static TICKET: ContextVar<String> = ContextVar::new("ticket");
static NAME: ContextVar<&str> = ContextVar::with_default("name", || "nobody");
static UNSET: ContextVar<u64> = ContextVar::new("unset");

fn user_id_walkthrough() {
    println!("== get / set / reset");
    println!("user_id before any set: {}", USER_ID.get());

    let token = USER_ID.set(42);
    println!("after set(42): {}", USER_ID.get());
    println!("the token remembers the old value: {:?}", token.old_value());

    let inner = USER_ID.set(7);
    println!("after set(7): {}", USER_ID.get());
    USER_ID
        .reset(inner)
        .expect("token of this variable, made in this context");
    println!("reset to the token's snapshot: {}", USER_ID.get());

    USER_ID
        .reset(token)
        .expect("token of this variable, made in this context");
    println!(
        "reset to before the first set (the default): {}",
        USER_ID.get()
    );

    match UNSET.try_get() {
        Ok(value) => println!("unexpected value {value}"),
        Err(error) => println!("a variable without default: {error}"),
    }
}

fn tickets_in_threads() {
    println!("== two threads, each with its own ticket");
    let workers: Vec<_> = ["TICKET-A", "TICKET-B"]
        .into_iter()
        .enumerate()
        .map(|(i, ticket)| {
            std::thread::spawn(move || {
                TICKET.set(ticket.to_owned());
                std::thread::sleep(Duration::from_millis(10 * (2 - i as u64)));
                let seen = TICKET.get();
                println!("thread {i} set {ticket} and reads back {seen}");
                assert_eq!(seen, ticket);
                seen
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker thread");
    }
    println!(
        "the main thread never saw either: {:?}",
        TICKET.try_get().ok()
    );
}

fn greet() -> String {
    format!("Hello {}", NAME.get())
}

fn greetings_in_three_contexts() {
    println!("== greet in three contexts");
    let mut contexts: Vec<Context> = Vec::new();
    for name in ["Steve", "Dina", "Harry"] {
        let mut ctx = copy_context();
        ctx.run(|| {
            NAME.set(name);
        });
        contexts.push(ctx);
    }
    for ctx in contexts.iter_mut().rev() {
        println!("{}", ctx.run(greet));
    }
    println!("outside every context: {}", greet());
}

fn main() {
    user_id_walkthrough();
    tickets_in_threads();
    greetings_in_three_contexts();
}
