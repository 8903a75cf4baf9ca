use proc_macro2::{TokenStream, TokenTree};
use quote::quote;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Error, Path, PathArguments, Token};

/// A module path written in `reset_module!` or `get_context_vars!`, split into how it starts
/// and its remaining segments, as `module_path!()` spells them (raw identifiers keep `r#`).
struct ModulePath {
    path: Path,
    start: Start,
    segments: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Start {
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

impl ModulePath {
    /// A block that fails to compile unless the path names a module, with rustc's error on
    /// the user's own tokens.
    fn existence_check(&self) -> TokenStream {
        let path = &self.path;
        quote! {
            {
                #[allow(unused_imports)]
                use #path::*;
            }
        }
    }

    /// An expression of type `&VarSet`: the module's variables, resolved once per call site.
    fn vars(&self, krate: &TokenStream) -> TokenStream {
        let start = match self.start {
            Start::Crate => quote!(Crate),
            Start::SelfModule => quote!(SelfModule),
            Start::Super(levels) => quote!(Super(#levels)),
            Start::Global => quote!(Global),
            Start::Bare => quote!(Bare),
        };
        let segments = &self.segments;
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
}

/// Splits `KRATE; rest` into the path of the contextvars crate and the macro's own input.
/// The facade's `macro_rules!` wrappers put their `$crate` first, so a renamed dependency
/// resolves.
fn split_crate(input: TokenStream) -> (TokenStream, TokenStream) {
    let mut tokens = input.into_iter();
    let krate: TokenStream = tokens
        .by_ref()
        .take_while(|token| !matches!(token, TokenTree::Punct(p) if p.as_char() == ';'))
        .collect();
    (krate, tokens.collect())
}

/// `reset_module!(path)`.
pub fn reset_module(input: TokenStream) -> TokenStream {
    let (krate, input) = split_crate(input);
    let path = match ModulePath::parse.parse2(input) {
        Ok(path) => path,
        Err(error) => return error.to_compile_error(),
    };
    let check = path.existence_check();
    let vars = path.vars(&krate);
    quote! {
        {
            #check
            (#vars).reset()
        }
    }
}

/// `get_context_vars!(path, ...)` (`reset` true) and `module_vars!(path, ...)` (`reset` false).
pub fn module_set(input: TokenStream, reset: bool) -> TokenStream {
    let (krate, input) = split_crate(input);
    let paths = match Punctuated::<ModulePath, Token![,]>::parse_terminated.parse2(input) {
        Ok(paths) if paths.is_empty() => {
            return Error::new(
                proc_macro2::Span::call_site(),
                "expected at least one module path, such as `path::to::module`",
            )
            .to_compile_error();
        }
        Ok(paths) => paths,
        Err(error) => return error.to_compile_error(),
    };
    let checks = paths.iter().map(ModulePath::existence_check);
    let vars = paths.iter().map(|path| path.vars(&krate));
    let reset = reset.then(|| quote!(vars.reset();));
    quote! {
        {
            #(#checks)*
            let mut vars = #krate::__private::VarSet::default();
            #(vars.extend(#vars);)*
            #reset
            vars
        }
    }
}
