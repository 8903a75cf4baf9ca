use contextvars::reset_module;

fn handlers() {}

fn main() {
    reset_module!(handlers);
}
