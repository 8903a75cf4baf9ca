use contextvars::context_var;

#[context_var(default = 0, default = 1)]
static REQUEST_ID: u64;

fn main() {}
