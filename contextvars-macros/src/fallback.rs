//! What `#[context_var]` emits beside its errors: the item as it would have been declared, with
//! a default that never runs and no registration, so that uses of `NAME` and `NAME_DEFAULT`
//! elsewhere add no second wave of errors to the real one.

use proc_macro2::TokenStream;
use quote::quote;
use syn::Type;

use crate::args::Args;
use crate::declaration::Declaration;
use crate::expand::static_and_default;

/// The static and its `NAME_DEFAULT`, or nothing when the type itself is the mistake.
pub fn fallback(args: &Args, declaration: &Declaration) -> TokenStream {
    if let Type::Infer(_) = declaration.ty {
        return TokenStream::new();
    }
    let krate = &args.krate;
    static_and_default(
        args,
        declaration,
        |name, _| quote!(#krate::ContextVar::new(#name)),
        &quote!(#[allow(non_snake_case, clippy::missing_panics_doc)] #[doc(hidden)]),
        &quote!(::core::unreachable!()),
    )
}
