use contextvars::context_var;

#[context_var(default = 0, inherits = false)]
static REQUEST_ID: u64;

fn main() {}
