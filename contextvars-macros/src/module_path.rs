//! A module path written in `reset_module!`, `get_context_vars!` or `module_vars!`, parsed and
//! checked, and the `$crate` the facade's wrappers put before it.

use proc_macro2::{TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream};
use syn::{Error, Path, PathArguments};

/// A module path written in `reset_module!` or `get_context_vars!`, split into how it starts
/// and its remaining segments, as `module_path!()` spells them (raw identifiers keep `r#`).
pub struct ModulePath {
    pub path: Path,
    pub start: Start,
    pub segments: Vec<String>,
}

/// How a module path starts.
#[derive(Clone, Copy, PartialEq)]
pub enum Start {
    Crate,
    SelfModule,
    Super(usize),
    Global,
    Bare,
}

impl Parse for ModulePath {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let path: Path = input.parse()?;
        let mut errors = Vec::new();
        let mut start = if path.leading_colon.is_some() {
            Start::Global
        } else {
            Start::Bare
        };
        let mut segments = Vec::new();
        for (index, segment) in path.segments.iter().enumerate() {
            if !matches!(segment.arguments, PathArguments::None) {
                errors.push(Error::new_spanned(
                    &segment.arguments,
                    "a module path takes no generic arguments",
                ));
            }
            let ident = segment.ident.to_string();
            let first = index == 0 && start == Start::Bare;
            match ident.as_str() {
                "$crate" => errors.push(Error::new_spanned(
                    &segment.ident,
                    "`$crate` is not supported in a module path: write the path from `crate` \
                     or from the crate's name",
                )),
                "crate" if first => start = Start::Crate,
                "self" if first => start = Start::SelfModule,
                "super" if first => start = Start::Super(1),
                "super" if start == Start::Super(index) => start = Start::Super(index + 1),
                "crate" | "self" | "super" => errors.push(Error::new_spanned(
                    &segment.ident,
                    format!("`{ident}` can only start a module path"),
                )),
                _ => segments.push(ident),
            }
        }
        match errors.into_iter().reduce(|mut all, error| {
            all.combine(error);
            all
        }) {
            Some(errors) => Err(errors),
            None => Ok(ModulePath {
                path,
                start,
                segments,
            }),
        }
    }
}

/// Splits `KRATE; rest` into the path of the contextvars crate and the macro's own input.
/// The facade's `macro_rules!` wrappers put their `$crate` first, so a renamed dependency
/// resolves.
pub fn split_crate(input: TokenStream) -> (TokenStream, TokenStream) {
    let mut tokens = input.into_iter();
    let krate: TokenStream = tokens
        .by_ref()
        .take_while(|token| !matches!(token, TokenTree::Punct(p) if p.as_char() == ';'))
        .collect();
    (krate, tokens.collect())
}
