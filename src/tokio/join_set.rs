//! A tokio `JoinSet` whose tasks start in a copy of the caller's context.

use std::fmt;
use std::future::Future;
use std::task::{self, Poll};

use ::tokio::runtime::Handle;
use ::tokio::task::{AbortHandle, Id, JoinError, LocalSet};

use crate::{Context, FutureExt};

/// [`tokio::task::JoinSet`] with every task in [`Context::inherited`] taken when it is spawned.
///
/// The methods are tokio's, under the same names; the spawning ones wrap the future with
/// [`FutureExt::with_current_context`] (the closure of `spawn_blocking` runs in the same kind of
/// copy). What a task sets stays in the task; tasks never see each other's changes.
///
/// ```
/// use contextvars::ContextVar;
/// use contextvars::tokio::JoinSet;
///
/// static TENANT: ContextVar<&str> = ContextVar::with_default("tenant", || "none");
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let _token = TENANT.set("acme");
/// let mut set = JoinSet::new();
/// for n in 0..3 {
///     set.spawn(async move {
///         let inherited = TENANT.get();
///         TENANT.set(if n == 0 { "changed" } else { "kept" });
///         inherited
///     });
/// }
/// while let Some(seen) = set.join_next().await {
///     assert_eq!(seen.unwrap(), "acme");
/// }
/// assert_eq!(TENANT.get(), "acme"); // nothing flows back
/// # });
/// ```
pub struct JoinSet<T> {
    inner: ::tokio::task::JoinSet<T>,
}

impl<T> JoinSet<T> {
    /// An empty set.
    #[must_use]
    pub fn new() -> JoinSet<T> {
        JoinSet {
            inner: ::tokio::task::JoinSet::new(),
        }
    }

    /// How many tasks the set holds, finished or not.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the set holds no task.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The tokio set underneath, for what this wrapper does not forward. Tasks spawned on it
    /// directly do not get the caller's context.
    pub fn as_tokio_mut(&mut self) -> &mut ::tokio::task::JoinSet<T> {
        &mut self.inner
    }

    /// The tokio set underneath.
    pub fn into_tokio(self) -> ::tokio::task::JoinSet<T> {
        self.inner
    }
}

impl<T: 'static> JoinSet<T> {
    /// Spawns `task` on the current runtime in a copy of the caller's context.
    ///
    /// # Panics
    /// As [`tokio::task::JoinSet::spawn`], outside a tokio runtime.
    #[track_caller]
    pub fn spawn<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        self.inner.spawn(task.with_current_context())
    }

    /// Spawns `task` on the runtime of `handle` in a copy of the caller's context.
    #[track_caller]
    pub fn spawn_on<F>(&mut self, task: F, handle: &Handle) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        self.inner.spawn_on(task.with_current_context(), handle)
    }

    /// Spawns a `!Send` `task` on the current [`LocalSet`] in a copy of the caller's context.
    ///
    /// # Panics
    /// As [`tokio::task::JoinSet::spawn_local`], outside a `LocalSet`.
    #[track_caller]
    pub fn spawn_local<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.inner.spawn_local(task.with_current_context())
    }

    /// Spawns a `!Send` `task` on `local_set` in a copy of the caller's context.
    #[track_caller]
    pub fn spawn_local_on<F>(&mut self, task: F, local_set: &LocalSet) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.inner
            .spawn_local_on(task.with_current_context(), local_set)
    }

    /// Runs `f` on tokio's blocking pool in a copy of the caller's context.
    ///
    /// # Panics
    /// As [`tokio::task::JoinSet::spawn_blocking`], outside a tokio runtime.
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send,
    {
        let mut context = Context::inherited();
        self.inner.spawn_blocking(move || context.run(f))
    }

    /// Runs `f` on the blocking pool of `handle`'s runtime in a copy of the caller's context.
    #[track_caller]
    pub fn spawn_blocking_on<F>(&mut self, f: F, handle: &Handle) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send,
    {
        let mut context = Context::inherited();
        self.inner.spawn_blocking_on(move || context.run(f), handle)
    }

    /// Waits for any task to finish; `None` when the set is empty. Cancel safe.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        self.inner.join_next().await
    }

    /// [`join_next`](Self::join_next) with the finished task's id.
    pub async fn join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        self.inner.join_next_with_id().await
    }

    /// A finished task's output if one is ready now, without waiting.
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        self.inner.try_join_next()
    }

    /// [`try_join_next`](Self::try_join_next) with the finished task's id.
    pub fn try_join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        self.inner.try_join_next_with_id()
    }

    /// Polls for the next finished task, for hand-written futures.
    pub fn poll_join_next(
        &mut self,
        cx: &mut task::Context<'_>,
    ) -> Poll<Option<Result<T, JoinError>>> {
        self.inner.poll_join_next(cx)
    }

    /// Waits for every task and returns their outputs in the order they finished.
    ///
    /// # Panics
    /// When a task panicked or was cancelled, as [`tokio::task::JoinSet::join_all`].
    pub async fn join_all(self) -> Vec<T> {
        self.inner.join_all().await
    }

    /// Aborts every task and waits for them to stop.
    pub async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }

    /// Aborts every task; they are still in the set until joined.
    pub fn abort_all(&mut self) {
        self.inner.abort_all();
    }

    /// Removes every task from the set without aborting them.
    pub fn detach_all(&mut self) {
        self.inner.detach_all();
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> JoinSet<T> {
        JoinSet::new()
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len()).finish()
    }
}

impl<T, F> Extend<F> for JoinSet<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    /// Spawns every future, each in its own copy of the caller's context.
    fn extend<I: IntoIterator<Item = F>>(&mut self, futures: I) {
        for future in futures {
            self.spawn(future);
        }
    }
}

impl<T, F> FromIterator<F> for JoinSet<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    /// Spawns every future, each in its own copy of the caller's context.
    fn from_iter<I: IntoIterator<Item = F>>(futures: I) -> JoinSet<T> {
        let mut set = JoinSet::new();
        set.extend(futures);
        set
    }
}
