//! `reset_module!`, `get_context_vars!` and `module_vars!`: a compile-time check that each path
//! names a module, and the call that finds the module's variables once per call site.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, Parser};
use syn::punctuated::Punctuated;
use syn::{Error, Token};

use crate::module_path::{ModulePath, Start, split_crate};

/// A block that fails to compile unless the path names a module, with rustc's error on
/// the user's own tokens.
fn existence_check(path: &ModulePath) -> TokenStream {
    let path = &path.path;
    quote! {
        {
            #[allow(unused_imports)]
            use #path::*;
        }
    }
}

/// An expression of type `&VarSet`: the module's variables, resolved once per call site.
fn vars(path: &ModulePath, krate: &TokenStream) -> TokenStream {
    let start = match path.start {
        Start::Crate => quote!(Crate),
        Start::SelfModule => quote!(SelfModule),
        Start::Super(levels) => quote!(Super(#levels)),
        Start::Global => quote!(Global),
        Start::Bare => quote!(Bare),
    };
    let segments = &path.segments;
    quote! {
        {
            static VARS: #krate::__private::ModuleVars = #krate::__private::ModuleVars::new();
            VARS.get(
                ::core::module_path!(),
                #krate::__private::PathStart::#start,
                &[#(#segments),*],
            )
        }
    }
}

/// `reset_module!(path)`.
pub fn reset_module(input: TokenStream) -> TokenStream {
    let (krate, input) = split_crate(input);
    let path = match ModulePath::parse.parse2(input) {
        Ok(path) => path,
        Err(error) => return error.to_compile_error(),
    };
    let check = existence_check(&path);
    let vars = vars(&path, &krate);
    quote! {
        {
            #check
            (#vars).reset()
        }
    }
}

/// `get_context_vars!(path, ...)`: the modules' variables, reset to fresh defaults.
pub fn get_context_vars(input: TokenStream) -> TokenStream {
    match module_set(input) {
        Ok(set) => quote! {
            {
                let vars = #set;
                vars.reset();
                vars
            }
        },
        Err(error) => error.to_compile_error(),
    }
}

/// `module_vars!(path, ...)`: the modules' variables, untouched.
pub fn module_vars(input: TokenStream) -> TokenStream {
    module_set(input).unwrap_or_else(|error| error.to_compile_error())
}

/// A block that evaluates to the `VarSet` of the modules named in `input`.
fn module_set(input: TokenStream) -> syn::Result<TokenStream> {
    let (krate, input) = split_crate(input);
    let paths = Punctuated::<ModulePath, Token![,]>::parse_terminated.parse2(input)?;
    if paths.is_empty() {
        return Err(Error::new(
            proc_macro2::Span::call_site(),
            "expected at least one module path, such as `path::to::module`",
        ));
    }
    let checks = paths.iter().map(existence_check);
    let vars = paths.iter().map(|path| vars(path, &krate));
    Ok(quote! {
        {
            #(#checks)*
            let mut vars = #krate::__private::VarSet::default();
            #(vars.extend(#vars);)*
            vars
        }
    })
}
