//! The checks that need the whole attribute or the whole item: what a plain `static` allows but
//! `#[context_var]` does not, and arguments that only make sense together.

use proc_macro2::Span;
use quote::quote;
use syn::{Error, Type};

use crate::args::Args;
use crate::declaration::Declaration;

/// Pushes an error for each mistake in the arguments taken together.
pub fn args(args: &mut Args, errors: &mut Vec<Error>) {
    pair_text_functions(args, errors);
    // An unknown key may be a misspelt `default`: say so once, not twice.
    if !args.seen_default && !args.seen_unknown {
        errors.push(Error::new(
            Span::call_site(),
            "missing `default = ...`: write #[context_var(default = EXPR)]",
        ));
    }
}

/// Gives `propagate` its `to_text` and `from_text`, which come as a pair, with `propagate`.
fn pair_text_functions(args: &mut Args, errors: &mut Vec<Error>) {
    match (
        args.propagate.as_mut(),
        args.to_text.take(),
        args.from_text.take(),
    ) {
        (Some(propagate), Some((_, to)), Some((_, from))) => {
            propagate.to_text = Some(to);
            propagate.from_text = Some(from);
        }
        (_, Some((key, _)), None) => errors.push(Error::new_spanned(
            key,
            "`to_text` needs `from_text` too: write `propagate, to_text = f, from_text = g`",
        )),
        (_, None, Some((key, _))) => errors.push(Error::new_spanned(
            key,
            "`from_text` needs `to_text` too: write `propagate, to_text = f, from_text = g`",
        )),
        (None, Some((key, _)), Some(_)) => errors.push(Error::new_spanned(
            key,
            "`to_text` and `from_text` only apply to a propagated variable: add `propagate`",
        )),
        _ => {}
    }
}

/// Pushes an error for each thing that a plain `static` allows but `#[context_var]` does not.
pub fn declaration(declaration: &Declaration, errors: &mut Vec<Error>) {
    if let Some(mutability) = &declaration.mutability {
        errors.push(Error::new_spanned(
            mutability,
            "`static mut` is not supported by #[context_var]: a context variable is \
             changed with `set`, not by assignment",
        ));
    }
    if let Some((eq, expr)) = &declaration.init {
        errors.push(Error::new_spanned(
            quote!(#eq #expr),
            "remove `= ...`: the default comes from #[context_var(default = ...)]",
        ));
    }
    if let Type::Infer(infer) = &declaration.ty {
        errors.push(Error::new_spanned(
            infer,
            "the type of a context variable must be written out",
        ));
    }
}
