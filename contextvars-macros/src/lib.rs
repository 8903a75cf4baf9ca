//! Procedural macros of the [`contextvars`](https://docs.rs/contextvars) crate:
//! `#[context_var]`, `reset_module!`, `get_context_vars!`, `#[contextvars::test]` and
//! `#[contextvars::main]`.
//!
//! Depend on `contextvars`, which re-exports them: `#[context_var]` directly, the module macros
//! through `macro_rules!` wrappers that pass their `$crate` on, so a renamed dependency resolves.
//! The macros are documented, with examples that run as doctests, on those re-exports.

#![forbid(unsafe_code)]

mod args;
mod declaration;
mod expand;
mod fallback;
mod module_macros;
mod module_path;
mod runtime_attr;
mod test_attr;
mod ty;
mod valid;

use proc_macro::TokenStream;

// Documented on its re-export, `contextvars::context_var`: rustdoc shows both docs there.
#[allow(missing_docs)]
#[proc_macro_attribute]
pub fn context_var(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::context_var(args.into(), item.into()).into()
}

/// Not public API: `contextvars::reset_module!` forwards here with its `$crate` first.
#[doc(hidden)]
#[proc_macro]
pub fn reset_module_in(input: TokenStream) -> TokenStream {
    module_macros::reset_module(input.into()).into()
}

/// Not public API: `contextvars::get_context_vars!` forwards here with its `$crate` first.
#[doc(hidden)]
#[proc_macro]
pub fn get_context_vars_in(input: TokenStream) -> TokenStream {
    module_macros::get_context_vars(input.into()).into()
}

/// Not public API: `contextvars::module_vars!` forwards here with its `$crate` first.
#[doc(hidden)]
#[proc_macro]
pub fn module_vars_in(input: TokenStream) -> TokenStream {
    module_macros::module_vars(input.into()).into()
}

// Documented on its re-export, `contextvars::test`: rustdoc shows both docs there.
#[allow(missing_docs)]
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    test_attr::test(args.into(), item.into()).into()
}

// Documented on its re-export, `contextvars::main`: rustdoc shows both docs there.
#[allow(missing_docs)]
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    runtime_attr::main(args.into(), item.into()).into()
}
