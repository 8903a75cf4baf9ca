use contextvars::context_var;

#[context_var(default)]
static REQUEST_ID: u64;

fn main() {}
