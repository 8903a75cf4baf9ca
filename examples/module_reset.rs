//! Per-request state declared once, reset at the start of every request.
//!
//! `my_module` declares the request's variables with typed defaults. At start-up,
//! `get_context_vars!` finds them (and resets them); each simulated request then resets them
//! all with one call, so nothing is left over from the previous request on this thread, sets
//! what it knows, and calls a handler that reads the variables without any parameter passing.
//!
//! Run with `cargo run --example module_reset`.

mod my_module {
    use contextvars::context_var;

    /// The id of the request being handled; 0 outside a request.
    #[context_var(default = 0)]
    pub static REQUEST_ID: u64;

    /// The signed-in user, if any.
    #[context_var(default = None)]
    pub static USER_ID: Option<String>;
}

use contextvars::get_context_vars;
use my_module::{REQUEST_ID, USER_ID};

fn handle() -> String {
    match USER_ID.get() {
        Some(user) => format!("request {}: hello, {user}", REQUEST_ID.get()),
        None => format!("request {}: hello, anonymous", REQUEST_ID.get()),
    }
}

fn main() {
    let vars = get_context_vars!(my_module);
    println!("start-up: {} variables in my_module", vars.len());
    for var in &vars {
        println!(
            "  {}::{}: {}",
            var.module_path(),
            var.name(),
            var.type_name()
        );
    }

    let requests = [(1, Some("ada")), (2, None), (3, Some("grace"))];
    for (id, user) in requests {
        println!(
            "left over: request_id = {}, user_id = {:?}",
            REQUEST_ID.get(),
            USER_ID.get()
        );
        let reset = vars.reset();
        println!(
            "reset {reset} variables: request_id = {}, user_id = {:?}",
            REQUEST_ID.get(),
            USER_ID.get()
        );
        REQUEST_ID.set(id);
        if let Some(user) = user {
            USER_ID.set(Some(user.to_owned()));
        }
        println!("  {}", handle());
    }
}
