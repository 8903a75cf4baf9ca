use contextvars::context_var;

#[context_var(defualt = 0)]
static REQUEST_ID: u64;

fn handler() -> u64 {
    let _token = REQUEST_ID.set(1);
    REQUEST_ID.get() + REQUEST_ID_DEFAULT()
}

fn main() {
    handler();
}
