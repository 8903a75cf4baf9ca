//! An executor for hyper and hyper-util that spawns in the caller's context.

use std::fmt;
use std::future::Future;

use crate::{Context, FutureExt};

/// A [`hyper::rt::Executor`] that spawns on the current tokio runtime, each task in a copy of
/// the context that hands it over (feature `hyper`).
///
/// hyper and hyper-util spawn tasks of their own: HTTP/2 connection and stream tasks, the
/// client pool's connection tasks, the server's per-connection tasks in
/// `hyper_util::server::conn::auto`. Give them this executor where you would give
/// `hyper_util::rt::TokioExecutor`, and each of those tasks starts from a known context instead
/// of from whatever its worker thread last held.
///
/// As with `contextvars_tower::ContextLayer`, the base is fixed when the executor is built:
/// [`new`](Self::new) takes [`Context::inherited`] there, [`with_base`](Self::with_base) takes
/// the context you give. That is what a client wants: its pooled connection outlives the
/// request that opened it and serves later requests, so it must carry nothing of that request.
/// [`inherit_at_spawn`](Self::inherit_at_spawn) instead starts each task from
/// [`Context::inherited`] taken when hyper spawns it; declare the variables that must not follow
/// a connection `inherit = false` then.
///
/// ```
/// use contextvars::ContextVar;
/// use contextvars::tokio::ContextExecutor;
/// use hyper::rt::Executor;
///
/// static TRACE: ContextVar<&str> = ContextVar::with_default("trace", || "none");
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let executor = ContextExecutor::inherit_at_spawn();
/// let (sender, receiver) = tokio::sync::oneshot::channel();
/// let _token = TRACE.set("t-1");
/// executor.execute(async move {
///     sender.send(TRACE.get()).unwrap();
/// });
/// assert_eq!(receiver.await.unwrap(), "t-1");
/// # });
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
#[derive(Clone)]
pub struct ContextExecutor {
    base: Option<Context>,
}

impl ContextExecutor {
    /// Each task starts from a copy of the caller's context as it is now, at construction
    /// (minus the variables declared `inherit = false`), whoever spawns it.
    #[must_use]
    pub fn new() -> ContextExecutor {
        ContextExecutor::with_base(Context::inherited())
    }

    /// Each task starts from a copy of `base`, whoever spawns it.
    #[must_use]
    pub fn with_base(base: Context) -> ContextExecutor {
        ContextExecutor { base: Some(base) }
    }

    /// Each task starts from [`Context::inherited`] taken when it is spawned, in the context of
    /// whoever spawns it.
    #[must_use]
    pub fn inherit_at_spawn() -> ContextExecutor {
        ContextExecutor { base: None }
    }
}

impl Default for ContextExecutor {
    fn default() -> ContextExecutor {
        ContextExecutor::new()
    }
}

impl<F> hyper::rt::Executor<F> for ContextExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// Spawns `future` on the current tokio runtime.
    ///
    /// # Panics
    /// As [`tokio::spawn`], outside a tokio runtime.
    #[track_caller]
    fn execute(&self, future: F) {
        match &self.base {
            // Spawned from inside the base too: on a runtime with `inherit_on_spawn`, the task's
            // own context is then the base rather than the spawner's, so a pooled connection
            // keeps nothing of the request that opened it (not even its span, with companions).
            Some(base) => {
                let future = future.with_context(base.clone());
                drop(base.clone().run(|| ::tokio::spawn(future)));
            }
            None => drop(::tokio::spawn(future.with_current_context())),
        }
    }
}

impl fmt::Debug for ContextExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base: &dyn fmt::Debug = match &self.base {
            Some(base) => base,
            None => &"inherited at each spawn",
        };
        f.debug_struct("ContextExecutor")
            .field("context", base)
            .finish()
    }
}
