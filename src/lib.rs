//! Python's `contextvars` for Rust.

pub use contextvars_core::{
    Context, ContextVar, Iter, LookupError, ResetError, ResetErrorKind, SetGuard, Token,
    VarInfo, VarSet, copy_context, registry, reset_all, thread,
};

/// Declared variables: `#[context_var]` declares a variable with a typed default and registers
/// it by module; `reset_module!` and `get_context_vars!` find a module's variables and reset
/// them.
pub use contextvars_macros::{context_var, get_context_vars, reset_module};

#[doc(hidden)]
pub use contextvars_core::__private;
