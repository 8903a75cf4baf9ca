use contextvars::context_var;

#[context_var(default = 0)]
static mut REQUEST_ID: u64;

fn main() {}
