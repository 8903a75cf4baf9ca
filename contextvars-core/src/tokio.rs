//! tokio's spawn functions, with each task in a copy of the caller's context.
//!
//! [`tokio::spawn`] runs a future on whichever worker is free; unwrapped, the future would see
//! that worker thread's own context, which belongs to no request. These helpers give every task
//! [`Context::inherited`] taken at the call (the caller's bindings minus the variables declared
//! `inherit(false)`), as `asyncio.create_task` and `asyncio.to_thread` do. What the task sets
//! stays in the task.

use std::future::Future;

use ::tokio::task::JoinHandle;

use crate::Context;
use crate::future::FutureExt;

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
