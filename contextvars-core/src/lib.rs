//! The runtime of [`contextvars`](https://docs.rs/contextvars): context variables with
//! Python's semantics (PEP 567).
//!
//! Depend on the `contextvars` facade crate, which re-exports this one together with the
//! `#[context_var]` macro and documents the whole model. The pieces:
//!
//! - [`ContextVar`]: `get`, `try_get`, `get_or`, borrowing `with`, `set` returning a [`Token`],
//!   `reset(token)`, and the scoped forms `set_guard` and `scope`.
//! - [`Context`]: an O(1) snapshot ([`copy_context`], `clone`) that code runs in
//!   ([`Context::run`]), readable as a mapping.
//! - [`thread::spawn`]: a thread that starts in a copy of the caller's context.
//! - [`FutureExt`] (`with_context`, `with_current_context`), [`Context::run_future`] and
//!   [`join_all`]: futures that run every poll in their own context; `StreamExt` (feature
//!   `futures`) for streams; `tokio::{spawn, spawn_blocking, spawn_local}` (feature `tokio`).
//! - [`registry`]: every variable declared with `#[context_var]`, by module.
//! - `tower` (feature `tower`): a layer that runs every request in its own context.
//! - `tracing` (feature `tracing`): context variables as fields of every log line.
//!
//! # What flows where
//!
//! A task is a future wrapped with [`FutureExt::with_context`] or
//! [`FutureExt::with_current_context`] (the spawn helpers and [`join_all`] wrap for you): every
//! poll runs in the task's own context, whichever thread polls it.
//!
//! | Where the code runs | What it starts from | Do its changes flow back? |
//! |---|---|---|
//! | after an `.await` in the same task | everything the task set before, on any worker thread; tokens made before reset after | it is the same context |
//! | a sibling future wrapped with `with_current_context`, or a branch of [`join_all`] | a copy of the caller's context taken when it was wrapped | no, and siblings never see each other's changes |
//! | a task started by `tokio::spawn` / `spawn_local` of this crate | a copy taken at the call | no |
//! | a closure started by `tokio::spawn_blocking` of this crate | a copy taken at the call | no |
//! | a thread started by [`thread::spawn`] | a copy taken at the call | no |
//! | a thread started by [`std::thread::spawn`] | an empty context | no |
//! | [`Context::run`], [`Context::run_future`], [`FutureExt::with_context`] | exactly that context, `inherit(false)` variables included | yes, into that context only |
//! | a future that is **not** wrapped | the context of whatever thread polls it | yes, into that thread's context |
//!
//! "A copy" is [`Context::inherited`]: the caller's bindings except the variables declared
//! `inherit(false)`, which start from their default. Nothing ever flows from a child back to
//! its parent; to get a child's changes, run it in a context you keep ([`Context::run_future`],
//! [`WithContext::into_inner`]).
//!
//! The last row is the one to watch. An executor's worker thread has a context of its own that
//! belongs to no request; a bare `tokio::spawn(fut)`, or a future polled by a runtime you do not
//! control, reads that context, and what it sets there is seen by the next unwrapped future the
//! worker polls, and is gone when the task resumes on another worker. So start every task through
//! the spawn helpers, wrap futures handed to other spawners with `with_current_context()`, and
//! give each concurrent branch of one task its own wrapper (or use [`join_all`]); code that runs
//! inside a wrapped task, at any depth, needs nothing more.
//!
//! A [`Token`] is used at most once: [`ContextVar::reset`] takes it by value, so a second reset
//! does not compile, where Python raises `RuntimeError` at run time.
//!
//! ```compile_fail,E0382
//! use contextvars_core::ContextVar;
//!
//! static V: ContextVar<u8> = ContextVar::new("v");
//! let token = V.set(1);
//! V.reset(token).unwrap();
//! V.reset(token).unwrap(); // error[E0382]: use of moved value: `token`
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "baggage")]
#[cfg_attr(docsrs, doc(cfg(feature = "baggage")))]
pub mod baggage;
mod context;
mod current;
mod error;
mod future;
mod join;
mod map;
pub mod propagate;
pub mod registry;
pub mod thread;
#[cfg(feature = "tokio")]
pub mod tokio;
mod var;

#[cfg(test)]
mod soundness_tests;

pub use context::{Context, Iter, VarInfo, copy_context};
pub use error::{LookupError, ResetError, ResetErrorKind};
#[cfg(feature = "futures")]
pub use future::StreamExt;
pub use future::{FutureExt, WithContext};
pub use join::{JoinAll, join_all};
pub use registry::{VarSet, reset_all};
pub use var::{ContextVar, SetGuard, Token};

#[doc(hidden)]
pub mod __private;
