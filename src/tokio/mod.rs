//! tokio's spawn functions, a `JoinSet` and an executor for hyper, with each task in a copy of
//! the caller's context; and, with `--cfg tokio_unstable`, every task of a runtime in its own.
//!
//! [`tokio::spawn`] runs a future on whichever worker is free; unwrapped, the future would see
//! that worker thread's own context, which belongs to no request. These helpers give every task
//! [`Context::inherited`] taken at the call (the caller's bindings minus the variables declared
//! `inherit(false)`), as `asyncio.create_task` and `asyncio.to_thread` do. What the task sets
//! stays in the task.
//!
//! - [`spawn`], [`spawn_on`], [`spawn_blocking`], [`spawn_local`] and [`JoinSet`]: tasks you
//!   spawn.
//! - `ContextExecutor` (feature `hyper`): tasks that hyper and hyper-util spawn.
//! - `inherit_on_spawn` (with `--cfg tokio_unstable`): every task of a runtime, whoever spawns
//!   it, through tokio's task hooks.
//! - [`set_leak_check`]: without the hooks, a write from a task that runs in its worker
//!   thread's own context is reported or refused, once switched on.

use std::future::Future;

use ::tokio::task::JoinHandle;

use ::tokio::runtime::Handle;

use crate::{Context, FutureExt};

#[cfg(feature = "hyper")]
mod executor;
#[cfg(tokio_unstable)]
mod hooks;
mod join_set;
mod leak;
mod runtime;
#[cfg(any(tokio_unstable, test))]
mod store;

#[cfg(feature = "hyper")]
pub use executor::ContextExecutor;
#[cfg(tokio_unstable)]
pub use hooks::{
    inherit_on_spawn, on_after_task_poll, on_before_task_poll, on_task_spawn, on_task_terminate,
};
pub use join_set::JoinSet;
pub use leak::{LeakCheck, leak_check, leaked_writes, set_leak_check, task_without_context};
#[doc(hidden)]
pub use runtime::__install_task_hooks;

/// [`tokio::spawn`] of `future.with_current_context()`: the task runs in a copy of the caller's
/// context taken now.
///
/// ```
/// use contextvars::ContextVar;
///
/// static TICKET: ContextVar<&str> = ContextVar::with_default("ticket", || "none");
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let _token = TICKET.set("A");
/// let child = contextvars::spawn(async {
///     let inherited = TICKET.get();
///     TICKET.set("B");
///     tokio::task::yield_now().await;
///     (inherited, TICKET.get())
/// });
/// assert_eq!(child.await.unwrap(), ("A", "B"));
/// assert_eq!(TICKET.get(), "A"); // nothing flows back
/// # });
/// ```
///
/// # Panics
/// As [`tokio::spawn`], outside a tokio runtime.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    ::tokio::spawn(future.with_current_context())
}

/// [`Handle::spawn`] of `future.with_current_context()`: the task runs on `handle`'s runtime in
/// a copy of the caller's context taken now, from any thread, also outside a runtime.
///
/// ```
/// use contextvars::ContextVar;
///
/// static JOB: ContextVar<u32> = ContextVar::new("job");
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let _token = JOB.set(7);
/// let task = contextvars::tokio::spawn_on(async { JOB.get() }, runtime.handle());
/// assert_eq!(runtime.block_on(task).unwrap(), 7);
/// ```
#[track_caller]
pub fn spawn_on<F>(future: F, handle: &Handle) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle.spawn(future.with_current_context())
}

/// [`tokio::task::spawn_blocking`] with the closure run in a copy of the caller's context taken
/// now (what `asyncio.to_thread` does).
///
/// # Panics
/// As [`tokio::task::spawn_blocking`], outside a tokio runtime.
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let mut context = Context::inherited();
    ::tokio::task::spawn_blocking(move || context.run(f))
}

/// [`tokio::task::spawn_local`] of `future.with_current_context()`, for `!Send` futures on a
/// [`LocalSet`](tokio::task::LocalSet).
///
/// # Panics
/// As [`tokio::task::spawn_local`], outside a `LocalSet`.
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    ::tokio::task::spawn_local(future.with_current_context())
}
