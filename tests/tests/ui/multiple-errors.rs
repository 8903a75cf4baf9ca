use contextvars::context_var;

#[context_var(default = 0, default = 1, colour = "blue", inherit = "no")]
static mut REQUEST_ID: u64 = 3;

fn main() {}
