#[contextvars::test(flavor = "multi_thread")]
fn wrong_attribute_for_a_runtime() {}

fn main() {}
