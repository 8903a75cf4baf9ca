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
/// `hyper_util::rt::TokioExecutor`, and each of those tasks starts from
/// [`Context::inherited`] taken when hyper spawned it, instead of from whatever its worker
/// thread last held.
///
/// A client's pooled connection outlives the request that opened it and serves later requests:
/// declare the variables that must not follow it `inherit = false`, or build the executor with
/// [`with_context`](Self::with_context) so that every task starts from a fixed context.
///
/// ```
/// use contextvars::ContextVar;
/// use contextvars::tokio::ContextExecutor;
/// use hyper::rt::Executor;
///
/// static TRACE: ContextVar<&str> = ContextVar::with_default("trace", || "none");
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let executor = ContextExecutor::new();
/// let (sender, receiver) = tokio::sync::oneshot::channel();
/// let _token = TRACE.set("t-1");
/// executor.execute(async move {
///     sender.send(TRACE.get()).unwrap();
/// });
/// assert_eq!(receiver.await.unwrap(), "t-1");
/// # });
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
#[derive(Clone, Default)]
pub struct ContextExecutor {
    base: Option<Context>,
}

impl ContextExecutor {
    /// Each task starts from a copy of the context that spawns it.
    #[must_use]
    pub fn new() -> ContextExecutor {
        ContextExecutor { base: None }
    }

    /// Each task starts from a copy of `base`, whoever spawns it: for connection tasks that
    /// must carry nothing of the request that happened to open them.
    #[must_use]
    pub fn with_context(base: Context) -> ContextExecutor {
        ContextExecutor { base: Some(base) }
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
        let future = match &self.base {
            Some(base) => future.with_context(base.clone()),
            None => future.with_current_context(),
        };
        drop(::tokio::spawn(future));
    }
}

impl fmt::Debug for ContextExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base: &dyn fmt::Debug = match &self.base {
            Some(base) => base,
            None => &"the spawner's",
        };
        f.debug_struct("ContextExecutor")
            .field("context", base)
            .finish()
    }
}
