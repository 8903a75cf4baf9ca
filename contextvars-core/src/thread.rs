//! Threads that start in a copy of the caller's context.
//!
//! A thread made by [`std::thread::spawn`] starts with an empty context, as in Python before
//! 3.14. [`spawn`] here starts it in [`Context::inherited`]: a snapshot of the caller's context
//! taken at the call, without the variables declared `inherit = false` (Python 3.14's
//! `Thread(context=copy_context())`).

use std::thread::JoinHandle;

use crate::Context;

/// Spawns a thread that runs `f` in a copy of the caller's current context.
///
/// ```
/// # use contextvars_core as contextvars;
/// use contextvars::{thread, ContextVar};
///
/// static REQUEST_ID: ContextVar<u32> = ContextVar::new("request_id");
///
/// let _token = REQUEST_ID.set(7);
/// let seen = thread::spawn(|| REQUEST_ID.get()).join().unwrap();
/// assert_eq!(seen, 7);
/// let seen = std::thread::spawn(|| REQUEST_ID.try_get().ok()).join().unwrap();
/// assert_eq!(seen, None); // std's threads start empty
/// ```
///
/// # Panics
/// As [`std::thread::spawn`], when the operating system cannot create a thread.
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn_with_context(Context::inherited(), f)
}

/// Spawns a thread that runs `f` in `context` (Python 3.14's `Thread(context=...)`).
///
/// # Panics
/// As [`std::thread::spawn`], when the operating system cannot create a thread.
pub fn spawn_with_context<F, T>(context: Context, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        let mut context = context;
        context.run(f)
    })
}
