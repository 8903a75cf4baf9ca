//! Python's `contextvars` for Rust: request-scoped state that follows your code through threads
//! and async tasks.
//!
//! A [`ContextVar`] is a value that depends on the current [`Context`]. Every thread has a
//! current context, and so does every task wrapped by this crate; [`ContextVar::set`] binds a
//! value there and returns a [`Token`] that [`ContextVar::reset`] uses to put back what was there
//! before. [`copy_context`] takes an O(1) snapshot that code can later run in with
//! [`Context::run`]. This is PEP 567, with its exact semantics, and a typed, compiled API.
//!
//! ```
//! use contextvars::{copy_context, ContextVar};
//!
//! static REQUEST_ID: ContextVar<u64> = ContextVar::with_default("request_id", || 0);
//!
//! fn log(message: &str) -> String {
//!     format!("[request {}] {message}", REQUEST_ID.get())
//! }
//!
//! let token = REQUEST_ID.set(7);
//! assert_eq!(log("hello"), "[request 7] hello");
//!
//! let mut snapshot = copy_context();
//! REQUEST_ID.reset(token).unwrap();
//! assert_eq!(log("outside"), "[request 0] outside");
//! assert_eq!(snapshot.run(|| log("inside")), "[request 7] inside");
//! ```
//!
//! # What flows where
//!
//! | where code runs | what it sees | its changes |
//! |---|---|---|
//! | after an `.await`, in a task wrapped by this crate | the task's own context, as it left it | stay in the task, on whichever worker thread it resumes |
//! | inside [`Context::run`] / `fut.with_context(ctx)` | exactly `ctx`, with every change at once | stay in `ctx` |
//! | a future wrapped with `with_current_context()`, a sibling in `join_all` | a snapshot taken when it was wrapped | stay in its own copy: siblings and the caller never see them |
//! | a task from `contextvars::spawn`, a closure from `spawn_blocking` (feature `tokio`) | a snapshot taken at the call | never flow back to the spawner |
//! | a thread from [`thread::spawn`] | a snapshot taken at the call | never flow back |
//! | a thread from [`std::thread::spawn`] | an empty context | never flow back |
//! | a closure from [`bind`] (each call of one from [`bind_each`]), on any thread or pool | a snapshot taken when it was made | never flow back |
//! | a snapshot ([`copy_context`], [`Context::clone`]) | the bindings at the moment it was taken | changes on either side are invisible to the other |
//! | a future that is **not** wrapped | whatever context the worker thread polling it has, shared with every other unwrapped future polled there | land in that thread's context, where the next unwrapped task sees them |
//!
//! Children (spawned tasks and threads, wrapped futures) get the snapshot *minus* the variables
//! declared `inherit = false` ([`ContextVar::inherit`]), which start from their default there:
//! the place for a transaction or a session that must not leak into background work.
//! [`copy_context`] and [`Context::run`] always see everything.
//!
//! The last row is the one to design around: under an async runtime, spawn through
//! `contextvars::spawn` (or wrap with `with_current_context()` before handing a future to any
//! executor), so that every task starts from an explicit context and never from what its worker
//! thread last held. With feature `tokio`, `contextvars::tokio` has the rest: a `JoinSet` and
//! `spawn_on` in the caller's context, `ContextExecutor` for the tasks hyper spawns (feature
//! `hyper`), `inherit_on_spawn` to give every task of a runtime its spawner's context as
//! asyncio does (with `--cfg tokio_unstable`), and a check that reports a write from a task
//! that has no context of its own (switched on by `tokio::set_leak_check`).
//!
//! # Python to Rust
//!
//! | Python | Rust |
//! |---|---|
//! | `ContextVar('v')`, `ContextVar('v', default=d)` | [`ContextVar::new`], [`ContextVar::with_default`] (both `const`) |
//! | `v.get()`, `v.get(fallback)` | [`ContextVar::get`] / [`ContextVar::try_get`], [`ContextVar::get_or`]; [`ContextVar::with`] borrows |
//! | `tok = v.set(x)`, `v.reset(tok)` | [`ContextVar::set`] → [`Token`], [`ContextVar::reset`] → `Result<(), ResetError>` |
//! | `with v.set(x):` (3.14) | [`ContextVar::set_guard`], [`ContextVar::scope`] |
//! | `copy_context()`, `Context()`, `ctx.copy()` | [`copy_context`], [`Context::new`], [`Context::clone`] |
//! | `ctx.run(f)` | [`Context::run`] |
//! | `ctx[v]`, `v in ctx`, `len(ctx)`, `ctx.items()` | [`Context::get`], [`Context::contains`], [`Context::len`], [`Context::iter`] |
//! | `LookupError`, `ValueError` from `reset` | [`LookupError`], [`ResetError`] with [`ResetErrorKind`] |
//!
//! What Rust makes impossible: using a token twice (`reset` takes it by value) and entering a
//! context that is already entered (`run` takes `&mut self`).
//!
//! ```compile_fail
//! use contextvars::ContextVar;
//! static V: ContextVar<u8> = ContextVar::new("v");
//! let token = V.set(1);
//! V.reset(token).unwrap();
//! V.reset(token).unwrap(); // error[E0382]: use of moved value: `token`
//! ```
//!
//! Values must be `Send + Sync + 'static`; a [`Context`] is `Send + Sync` and moves between
//! threads with its task. Values are shared between the contexts that hold them, never cloned
//! by the library, and dropped with the last context holding them.
//!
//! # Feature flags
//!
//! None is enabled by default.
//!
//! - `tokio`: [`spawn`], [`spawn_blocking`] and [`spawn_local`], tokio's spawn functions with
//!   each task in a copy of the caller's context, and the [`tokio`] module: a `JoinSet` and
//!   `spawn_on` in the caller's context, the check that reports writes left in a worker
//!   thread's own context, and (with `--cfg tokio_unstable`) `inherit_on_spawn`, which puts
//!   every task of a runtime in a copy of its spawner's context.
//! - `hyper`: `tokio::ContextExecutor`, hyper's executor for the tasks hyper and hyper-util
//!   spawn, each in the context it was spawned from (enables `tokio`).
//! - `futures`: [`StreamExt`], streams that run every `poll_next` in their own context.
//! - `baggage`: the `baggage` module, variables declared `propagate` as a W3C baggage header
//!   and in any carrier of string metadata (job queues).
//! - `serde`: `Serialize` and `Deserialize` for `baggage::Baggage`, to embed the propagated
//!   variables in a job's payload (enables `baggage`).
//!
//! # The crates around it
//!
//! - [`contextvars-tower`](https://docs.rs/contextvars-tower): tower layers that run every
//!   HTTP request in its own context, set variables from headers and incoming baggage, poll
//!   streaming bodies in the request's context, and send propagated variables on outgoing
//!   requests.
//! - [`contextvars-tracing`](https://docs.rs/contextvars-tracing): context variables on every
//!   `tracing` log line, text or JSON, and on every span.
//! - [`contextvars-opentelemetry`](https://docs.rs/contextvars-opentelemetry): a W3C baggage
//!   `TextMapPropagator` for the variables declared `propagate`.
//! - [`contextvars-rayon`](https://docs.rs/contextvars-rayon): rayon's parallel iterators,
//!   `join`, `scope` and `spawn` in the caller's context.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub use contextvars_core::{
    Context, ContextTemplate, ContextVar, Iter, LookupError, ResetError, ResetErrorKind, SetGuard,
    TemplateItems, Token, VarInfo, VarSet, bind, bind_each, copy_context, propagate, registry,
    reset_all, thread,
};

#[cfg(feature = "baggage")]
#[cfg_attr(docsrs, doc(cfg(feature = "baggage")))]
pub mod baggage;

/// Futures and streams in their own context, and sibling futures each in a copy of the
/// caller's.
pub use contextvars_core::{FutureExt, JoinAll, WithContext, join_all};

#[cfg(feature = "futures")]
#[cfg_attr(docsrs, doc(cfg(feature = "futures")))]
pub use contextvars_core::StreamExt;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use tokio::{spawn, spawn_blocking, spawn_local};

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;

/// Declares a variable with a typed default and registers it by module, for
/// [`reset_module!`], [`get_context_vars!`] and [`module_vars!`].
pub use contextvars_macros::context_var;

/// `#[contextvars::test]`: a test that runs in a fresh, empty context of its own, sync or
/// async (above `#[tokio::test]`).
pub use contextvars_macros::test;

mod macros;

/// Not public API, used by generated code.
#[doc(hidden)]
pub mod __private {
    pub use contextvars_core::__private::*;
    pub use contextvars_macros::{get_context_vars_in, module_vars_in, reset_module_in};
}
