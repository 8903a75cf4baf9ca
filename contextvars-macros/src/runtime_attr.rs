//! `#[contextvars::main]`, and `#[contextvars::test(tokio)]`: an `async fn` run to completion
//! on a tokio runtime built with the task hooks, in a fresh, empty context.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Block, Error, ItemFn, LitInt, LitStr, Path};

/// Which runtime to build: tokio's flavours and worker count.
pub struct Runtime {
    pub multi_thread: bool,
    pub worker_threads: Option<LitInt>,
}

impl Runtime {
    /// `"current_thread"` or `"multi_thread"`.
    pub fn flavor(&mut self, flavor: &LitStr) -> syn::Result<()> {
        self.multi_thread = match flavor.value().as_str() {
            "current_thread" => false,
            "multi_thread" => true,
            _ => {
                return Err(Error::new(
                    flavor.span(),
                    "the flavor is \"current_thread\" or \"multi_thread\"",
                ));
            }
        };
        Ok(())
    }
}

/// The body of a synchronous function that runs `block` as an `async` block on the runtime,
/// inside a fresh, empty context.
pub fn block_on(krate: &Path, runtime: &Runtime, block: &Block) -> TokenStream {
    let private = quote!(#krate::__private);
    let builder = if runtime.multi_thread {
        quote!(new_multi_thread)
    } else {
        quote!(new_current_thread)
    };
    let workers = runtime
        .worker_threads
        .as_ref()
        .map(|n| quote!(builder.worker_threads(#n);));
    quote_spanned! {block.span()=>
        let mut builder = #private::tokio_crate::runtime::Builder::#builder();
        builder.enable_all();
        #workers
        #private::install_task_hooks(&mut builder);
        builder
            .build()
            .expect("failed to build the tokio runtime")
            .block_on(#private::FutureExt::with_context(
                async move #block,
                #private::Context::new(),
            ))
    }
}

pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut krate: Option<Path> = None;
    let mut runtime = Runtime {
        multi_thread: true,
        worker_threads: None,
    };
    let mut seen_flavor = false;
    let parser = syn::meta::parser(|meta| {
        let duplicate = || {
            meta.error(format!(
                "duplicate `{}` argument",
                meta.path
                    .get_ident()
                    .map_or_else(String::new, ToString::to_string)
            ))
        };
        if meta.path.is_ident("crate") {
            if krate.is_some() {
                return Err(duplicate());
            }
            krate = Some(crate::args::crate_path(&meta)?);
            Ok(())
        } else if meta.path.is_ident("flavor") {
            if seen_flavor {
                return Err(duplicate());
            }
            seen_flavor = true;
            runtime.flavor(&meta.value()?.parse()?)
        } else if meta.path.is_ident("worker_threads") {
            if runtime.worker_threads.is_some() {
                return Err(duplicate());
            }
            runtime.worker_threads = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error(
                "unknown argument: the arguments are `flavor = \"current_thread\"` or \
                 \"multi_thread\", `worker_threads = N` and `crate = path::to::contextvars`",
            ))
        }
    });
    if let Err(error) = parser.parse2(args) {
        return error.into_compile_error();
    }
    let krate = krate.unwrap_or_else(crate::args::default_crate);
    let function = match crate::args::item_fn(item, "#[contextvars::main] goes on `async fn main`")
    {
        Ok(function) => function,
        Err(error) => return error.into_compile_error(),
    };
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = function;
    if sig.asyncness.take().is_none() {
        return Error::new(
            sig.fn_token.span(),
            "#[contextvars::main] goes on an `async fn`",
        )
        .into_compile_error();
    }
    let body = block_on(&krate, &runtime, &block);
    quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}
