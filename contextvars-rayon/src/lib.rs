//! [rayon] in the caller's context: parallel iterators, [`join`], [`scope`], [`spawn`] and
//! [`install`] whose closures see the [`contextvars`] values of the code that started them.
//!
//! A rayon pool thread has a context of its own that belongs to no request: a plain `par_iter`
//! inside a request handler sees the variables' defaults, and what one job sets there stays on
//! the thread for the next job. This crate runs every closure it is given in a copy of the
//! caller's context, captured once at the call ([`contextvars::Context::inherited`]: the
//! caller's bindings minus the variables declared `inherit = false`), and the pool thread
//! keeps nothing afterwards, also when the closure panics.
//!
//! ```
//! use contextvars::ContextVar;
//! use contextvars_rayon::ParallelIteratorExt;
//! use rayon::prelude::*;
//!
//! static REQUEST_ID: ContextVar<u64> = ContextVar::with_default("request_id", || 0);
//!
//! fn handle(request_id: u64, lines: &[&str]) -> Vec<String> {
//!     let _guard = REQUEST_ID.set_guard(request_id);
//!     lines
//!         .par_iter()
//!         .with_current_context()
//!         .map(|line| format!("[{}] {line}", REQUEST_ID.get()))
//!         .collect()
//! }
//!
//! assert_eq!(handle(7, &["a", "b"]), ["[7] a", "[7] b"]);
//!
//! let (left, right) = {
//!     let _guard = REQUEST_ID.set_guard(8);
//!     contextvars_rayon::join(|| REQUEST_ID.get(), || REQUEST_ID.get())
//! };
//! assert_eq!((left, right), (8, 8));
//! ```
//!
//! | rayon | here | each closure runs in |
//! |---|---|---|
//! | `iter.map(f)...` | `iter.with_current_context().map(f)...` ([`ParallelIteratorExt`]) | a copy per item |
//! | [`rayon::join`] | [`join`] | a copy per closure |
//! | [`rayon::scope`], `Scope::spawn` | [`scope`], [`Scope::spawn`] | a copy for the scope's closure, one per spawned job, taken when it is spawned |
//! | [`rayon::spawn`] | [`spawn`] | a copy taken at the call |
//! | [`ThreadPool::install`](rayon::ThreadPool::install) | [`install`] | a copy taken at the call |
//!
//! Nothing a closure sets flows back to the caller, as with a task started by
//! `contextvars::spawn`. For other pools and callbacks, `contextvars::bind` does the same for
//! any closure.
//!
//! While a closure waits inside a nested `join` or `scope`, rayon may run another job on the
//! same thread; a job started through this crate runs in its own context there, and a plain
//! rayon job sees whatever context is current on that thread, as it would outside a pool.

#![forbid(unsafe_code)]

mod iter;

pub use iter::{ParallelIteratorExt, WithContext};

use contextvars::Context;

/// [`rayon::join`] with each closure in a copy of the caller's context taken at the call.
///
/// ```
/// use contextvars::ContextVar;
///
/// static USER: ContextVar<&str> = ContextVar::with_default("user", || "nobody");
///
/// let _token = USER.set("Dina");
/// let (a, b) = contextvars_rayon::join(
///     || {
///         USER.set("changed in a"); // stays in a's copy
///         USER.get()
///     },
///     || USER.get(),
/// );
/// assert_eq!((a, b), ("changed in a", "Dina"));
/// assert_eq!(USER.get(), "Dina");
/// ```
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let context = Context::inherited();
    rayon::join(context.clone().bind(a), context.bind(b))
}

/// [`rayon::spawn`] with `f` in a copy of the caller's context taken at the call.
///
/// ```
/// use std::sync::mpsc;
///
/// use contextvars::ContextVar;
///
/// static JOB: ContextVar<u32> = ContextVar::new("job");
///
/// let (done, seen) = mpsc::channel();
/// let _token = JOB.set(42);
/// contextvars_rayon::spawn(move || done.send(JOB.get()).unwrap());
/// assert_eq!(seen.recv().unwrap(), 42);
/// ```
pub fn spawn<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    rayon::spawn(contextvars::bind(f));
}

/// [`ThreadPool::install`](rayon::ThreadPool::install) with `op` in a copy of the caller's
/// context taken at the call: what `op` and the parallel work it starts through this crate see.
///
/// ```
/// use contextvars::ContextVar;
///
/// static REGION: ContextVar<&str> = ContextVar::with_default("region", || "none");
///
/// let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
/// let _token = REGION.set("eu");
/// assert_eq!(contextvars_rayon::install(&pool, || REGION.get()), "eu");
/// assert_eq!(pool.install(|| REGION.get()), "none"); // rayon's own: the pool thread's context
/// ```
pub fn install<OP, R>(pool: &rayon::ThreadPool, op: OP) -> R
where
    OP: FnOnce() -> R + Send,
    R: Send,
{
    pool.install(contextvars::bind(op))
}

/// [`rayon::scope`] with `op` and every job spawned on the scope in a copy of the context
/// current where it is started.
///
/// ```
/// use std::sync::Mutex;
///
/// use contextvars::ContextVar;
///
/// static BATCH: ContextVar<u32> = ContextVar::with_default("batch", || 0);
///
/// let seen = Mutex::new(Vec::new());
/// let _token = BATCH.set(3);
/// contextvars_rayon::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|_| seen.lock().unwrap().push(BATCH.get()));
///     }
/// });
/// assert_eq!(seen.into_inner().unwrap(), [3, 3, 3, 3]);
/// ```
pub fn scope<'scope, OP, R>(op: OP) -> R
where
    OP: FnOnce(&Scope<'_, 'scope>) -> R + Send,
    R: Send,
{
    let mut context = Context::inherited();
    rayon::scope(move |inner| context.run(|| op(&Scope { inner })))
}

/// A rayon scope whose jobs run in the context current where they are spawned; made by
/// [`scope`].
#[derive(Clone, Copy)]
pub struct Scope<'a, 'scope> {
    inner: &'a rayon::Scope<'scope>,
}

impl<'scope> Scope<'_, 'scope> {
    /// [`rayon::Scope::spawn`] with `body` in a copy of the caller's context taken now.
    pub fn spawn<BODY>(&self, body: BODY)
    where
        BODY: FnOnce(&Scope<'_, 'scope>) + Send + 'scope,
    {
        let mut context = Context::inherited();
        self.inner
            .spawn(move |inner| context.run(|| body(&Scope { inner })));
    }

    /// The rayon scope underneath, for what this type does not wrap. Jobs spawned on it
    /// directly run in the pool thread's own context.
    #[must_use]
    pub fn as_rayon(&self) -> &'_ rayon::Scope<'scope> {
        self.inner
    }
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}
