use contextvars::reset_module;

mod handlers {}

fn main() {
    reset_module!(handlers::<u8>);
}
