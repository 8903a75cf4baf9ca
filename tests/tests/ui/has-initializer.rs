use contextvars::context_var;

#[context_var(default = 0)]
static REQUEST_ID: u64 = 7;

fn main() {}
