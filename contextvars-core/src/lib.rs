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
//! - [`registry`]: every variable declared with `#[context_var]`, by module.
//! - `tower` (feature `tower`): a layer that runs every request in its own context.
//! - `tracing` (feature `tracing`): context variables as fields of every log line.

mod context;
mod current;
mod error;
mod future;
mod join;
mod map;
pub mod registry;
pub mod thread;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(feature = "tower")]
pub mod tower;
#[cfg(feature = "tracing")]
pub mod tracing;
mod var;

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
