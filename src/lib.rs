//! Python's `contextvars` for Rust.

pub use contextvars_core::{
    Context, ContextVar, Iter, LookupError, ResetError, ResetErrorKind, SetGuard, Token,
    VarInfo, VarSet, copy_context, registry, reset_all, thread,
};

/// Futures and streams in their own context, and sibling futures each in a copy of the
/// caller's.
pub use contextvars_core::{FutureExt, JoinAll, WithContext, join_all};

#[cfg(feature = "futures")]
pub use contextvars_core::StreamExt;

/// tokio's spawn functions, each task in a copy of the caller's context (feature `tokio`).
#[cfg(feature = "tokio")]
pub use contextvars_core::tokio::{spawn, spawn_blocking, spawn_local};

/// A tower layer that runs every request in its own context (feature `tower`).
#[cfg(feature = "tower")]
pub use contextvars_core::tower;

/// Context variables as fields of every log line (feature `tracing`).
#[cfg(feature = "tracing")]
pub use contextvars_core::tracing;

/// Declared variables: `#[context_var]` declares a variable with a typed default and registers
/// it by module; `reset_module!` and `get_context_vars!` find a module's variables and reset
/// them.
pub use contextvars_macros::{context_var, get_context_vars, reset_module};

#[doc(hidden)]
pub use contextvars_core::__private;
