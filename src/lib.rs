//! Python's `contextvars` for Rust.

pub use contextvars_core::{
    Context, ContextVar, Iter, LookupError, ResetError, ResetErrorKind, SetGuard, Token,
    VarInfo, VarSet, copy_context, registry, reset_all, thread,
};

#[doc(hidden)]
pub use contextvars_core::__private;
