//! Every task of a runtime in its own context through tokio's task hooks, which exist only
//! with `RUSTFLAGS="--cfg tokio_unstable"` (.ci/run has a step for it). Without that cfg the
//! tests are not built, and one ignored test says so in the run's output.

#[cfg(tokio_unstable)]
mod hooks;

#[cfg(not(tokio_unstable))]
#[test]
#[ignore = "tokio's task hooks need RUSTFLAGS=\"--cfg tokio_unstable\"; .ci/run runs these tests with it"]
fn tokio_hooks_need_cfg_tokio_unstable() {}
