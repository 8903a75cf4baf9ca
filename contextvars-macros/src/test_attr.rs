//! `#[contextvars::test]`: a test whose body runs in a fresh, empty context.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Attribute, Error, ItemFn, Path, ReturnType};

use crate::args;
use crate::runtime_attr::{self, Runtime};

pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut krate: Option<Path> = None;
    let mut runtime: Option<Runtime> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("crate") {
            if krate.is_some() {
                return Err(meta.error("duplicate `crate` argument"));
            }
            krate = Some(args::crate_path(&meta)?);
            Ok(())
        } else if meta.path.is_ident("tokio") {
            let mut chosen = Runtime {
                multi_thread: false,
                worker_threads: None,
            };
            if meta.input.peek(syn::Token![=]) {
                chosen.flavor(&meta.value()?.parse()?)?;
            }
            runtime = Some(chosen);
            Ok(())
        } else {
            Err(meta.error(
                "unknown argument: the arguments are `tokio` (or `tokio = \"multi_thread\"`) \
                 and `crate = path::to::contextvars`",
            ))
        }
    });
    if let Err(error) = parser.parse2(args) {
        return error.into_compile_error();
    }
    let krate = krate.unwrap_or_else(args::default_crate);
    let function = match args::item_fn(item, "#[contextvars::test] goes on a test function") {
        Ok(function) => function,
        Err(error) => return error.into_compile_error(),
    };
    expand(&krate, runtime.as_ref(), function).unwrap_or_else(Error::into_compile_error)
}

fn expand(krate: &Path, runtime: Option<&Runtime>, function: ItemFn) -> syn::Result<TokenStream> {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = function;
    let has_test_attribute = attrs.iter().any(is_test_attribute);
    let private = quote!(#krate::__private);
    let body = if let Some(runtime) = runtime {
        if sig.asyncness.take().is_none() || has_test_attribute {
            return Err(Error::new(
                sig.fn_token.span(),
                "#[contextvars::test(tokio)] goes on an `async fn` with no other test attribute: \
                 it builds the runtime itself",
            ));
        }
        runtime_attr::block_on(krate, runtime, &block)
    } else if sig.asyncness.is_some() {
        if !has_test_attribute {
            return Err(Error::new(
                sig.asyncness.span(),
                "an async test needs its runtime's test attribute below this one: \
                 #[contextvars::test] then #[tokio::test]",
            ));
        }
        quote_spanned! {block.span()=>
            #private::FutureExt::with_context(async move #block, #private::Context::new()).await
        }
    } else {
        let output = match &sig.output {
            ReturnType::Default => quote!(()),
            ReturnType::Type(_, ty) => quote!(#ty),
        };
        quote_spanned! {block.span()=>
            #private::Context::new().run(move || -> #output #block)
        }
    };
    let test_attribute = (!has_test_attribute).then(|| quote!(#[::core::prelude::v1::test]));
    Ok(quote! {
        #test_attribute
        #(#attrs)*
        #vis #sig {
            #body
        }
    })
}

/// `#[test]`, `#[tokio::test]`, `#[async_std::test]`...: an attribute that already makes the
/// function a test.
fn is_test_attribute(attribute: &Attribute) -> bool {
    attribute
        .path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "test")
}
