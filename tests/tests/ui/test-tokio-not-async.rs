#[contextvars::test(tokio)]
fn needs_an_async_fn() {}

#[contextvars::test(tokio)]
#[tokio::test]
async fn builds_its_runtime_itself() {}

fn main() {}
