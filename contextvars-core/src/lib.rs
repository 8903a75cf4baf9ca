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
//! - [`bind`], [`bind_each`], [`ContextTemplate`]: closures that run later, on any thread or
//!   pool, in the context they were made in.
//! - [`FutureExt`] (`with_context`, `with_current_context`), [`Context::run_future`] and
//!   [`join_all`]: futures that run every poll in their own context; `StreamExt` (feature
//!   `futures`) for streams.
//! - [`registry`]: every variable declared with `#[context_var]`, by module.
//! - [`propagate`]: the variables that travel to other processes, each under its key.
//!
//! What is not the runtime lives in the facade: the tokio spawners, task hooks and leak
//! check, the W3C baggage codec, hyper and serde support (see ARCHITECTURE.md).
//!
//! The facade's documentation explains what flows where: into awaits, sibling futures, spawned
//! tasks and threads, and what never flows back.
//!
//! A [`Token`] is used at most once: [`ContextVar::reset`] takes it by value, so a second reset
//! does not compile, where Python raises `RuntimeError` at run time.
//!
//! ```compile_fail,E0382
//! # use contextvars_core as contextvars;
//! use contextvars::ContextVar;
//!
//! static V: ContextVar<u8> = ContextVar::new("v");
//! let token = V.set(1);
//! V.reset(token).unwrap();
//! V.reset(token).unwrap(); // error[E0382]: use of moved value: `token`
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod bind;
pub mod companion;
mod context;
mod current;
mod erased;
mod error;
mod future;
mod join;
mod keys;
mod map;
mod module_path;
pub mod propagate;
pub mod registry;
mod set_hook;
pub mod thread;
mod var;

#[cfg(test)]
mod soundness_tests;

pub use bind::{ContextTemplate, TemplateItems, bind, bind_each};
pub use context::{Context, Iter, VarInfo, copy_context};
pub use error::{LookupError, ResetError, ResetErrorKind};
#[cfg(feature = "futures")]
#[cfg_attr(docsrs, doc(cfg(feature = "futures")))]
pub use future::StreamExt;
pub use future::{FutureExt, WithContext};
pub use join::{JoinAll, join_all};
pub use registry::{VarSet, reset_all};
pub use var::{ContextVar, SetGuard, Token};

#[doc(hidden)]
pub mod __private;
