//! What surprises people about context variables, shown: reading a variable that has no value
//! and no default, a token used in another context, a token used twice, threads that start
//! empty, and processes that never share a context.
//!
//! Run with `cargo run --example gotchas`.

use std::process::Command;

use contextvars::{ContextVar, ResetErrorKind, copy_context};

static USER: ContextVar<String> = ContextVar::new("user");
static LOCALE: ContextVar<&str> = ContextVar::with_default("locale", || "en");

/// Python's `LookupError`: no value in the context and no default.
fn lookup_error() {
    println!("== no value and no default");
    match USER.try_get() {
        Ok(user) => println!("unexpected: {user}"),
        Err(error) => println!("try_get: LookupError: {error}"),
    }
    println!(
        "get_or gives the fallback: {}",
        USER.get_or("guest".to_owned())
    );
    println!("a variable with a default never fails: {}", LOCALE.get());
}

/// Python's `ValueError: <Token> was created in a different Context`: the reset is refused,
/// nothing changes, and the token comes back for a reset in the right context.
fn token_from_another_context() {
    println!("== a token from another context");
    let mut ctx = copy_context();
    let token = ctx.run(|| LOCALE.set("fr"));
    let error = LOCALE
        .reset(token)
        .expect_err("the token was made in `ctx`");
    assert_eq!(error.kind(), ResetErrorKind::WrongContext);
    println!("reset outside ctx refused: {error}");
    println!("ctx still binds: {:?}", ctx.get(&LOCALE));
    let token = error.into_token();
    ctx.run(|| LOCALE.reset(token))
        .expect("the right context accepts it");
    println!(
        "reset inside ctx with the handed-back token: ctx binds {:?}",
        ctx.get(&LOCALE)
    );
}

/// Python raises `RuntimeError: Token has already been used once`; in Rust, `reset` takes the
/// token by value, so a second use is a compile error (`use of moved value: token`), pinned by
/// a `compile_fail` doctest in the crate documentation.
fn token_used_twice() {
    println!("== a token used twice");
    let token = LOCALE.set("de");
    LOCALE.reset(token).expect("first use");
    println!("reset once; a second `LOCALE.reset(token)` does not compile: the token was moved");
}

/// Every OS thread starts with an empty context, as in Python; `contextvars::thread::spawn`
/// starts it in a copy of the caller's.
fn threads_start_empty() {
    println!("== threads");
    let _user = USER.set("Dina".to_owned());
    let plain = std::thread::spawn(|| USER.try_get().ok())
        .join()
        .expect("thread");
    let copied = contextvars::thread::spawn(|| USER.try_get().ok())
        .join()
        .expect("thread");
    println!("std::thread::spawn sees: {plain:?}");
    println!("contextvars::thread::spawn sees: {copied:?}");
}

/// A context lives in one process's memory: a child process starts from nothing, whatever the
/// parent set. Pass what it needs explicitly (arguments, environment, a header).
fn processes_do_not_share() {
    println!("== processes");
    let _locale = LOCALE.set("pt");
    let exe = std::env::current_exe().expect("path of this example");
    let output = Command::new(exe)
        .arg("--child")
        .output()
        .expect("run this example as a child process");
    let child = String::from_utf8_lossy(&output.stdout);
    println!("parent sees locale: {}", LOCALE.get());
    println!("child process sees locale: {}", child.trim());
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--child") {
        println!("{}", LOCALE.get());
        return;
    }
    lookup_error();
    token_from_another_context();
    token_used_twice();
    threads_start_empty();
    processes_do_not_share();
}
