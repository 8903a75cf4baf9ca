//! Procedural macros of the `contextvars` crate.
