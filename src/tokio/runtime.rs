//! What `#[contextvars::main]` and `#[contextvars::test(tokio)]` add to the runtime they build.

use ::tokio::runtime::Builder;

/// Not public API, used by generated code: with `--cfg tokio_unstable`, every task of the
/// runtime in its own context ([`inherit_on_spawn`]); without it, nothing (tokio has no task
/// hooks then).
///
/// [`inherit_on_spawn`]: https://docs.rs/contextvars/latest/contextvars/tokio/fn.inherit_on_spawn.html
#[doc(hidden)]
pub fn __install_task_hooks(builder: &mut Builder) {
    #[cfg(tokio_unstable)]
    super::inherit_on_spawn(builder);
    #[cfg(not(tokio_unstable))]
    let _ = builder;
}
