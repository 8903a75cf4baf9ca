//! The runtime that `#[contextvars::main]` and `#[contextvars::test(tokio)]` build.

use ::tokio::runtime::{Builder, Runtime};

/// Not public API, used by generated code: a tokio runtime with every driver enabled and,
/// with `--cfg tokio_unstable`, every task in its own context ([`inherit_on_spawn`]).
///
/// [`inherit_on_spawn`]: https://docs.rs/contextvars/latest/contextvars/tokio/fn.inherit_on_spawn.html
///
/// # Panics
/// When tokio cannot build the runtime, as `#[tokio::main]` does.
#[doc(hidden)]
#[track_caller]
pub fn __runtime(multi_thread: bool, worker_threads: Option<usize>) -> Runtime {
    let mut builder = if multi_thread {
        Builder::new_multi_thread()
    } else {
        Builder::new_current_thread()
    };
    builder.enable_all();
    if let Some(workers) = worker_threads {
        builder.worker_threads(workers);
    }
    #[cfg(tokio_unstable)]
    super::inherit_on_spawn(&mut builder);
    builder.build().expect("failed to build the tokio runtime")
}
