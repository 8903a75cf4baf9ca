use contextvars::context_var;

#[context_var]
static REQUEST_ID: u64;

fn main() {}
