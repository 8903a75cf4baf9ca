use contextvars::context_var;

#[context_var(default = 0)]
fn request_id() -> u64 {
    0
}

#[context_var(default = 0)]
const USER_ID: u64;

#[context_var(default = 0)]
pub struct Session;

fn main() {}
