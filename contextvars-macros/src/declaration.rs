//! The item under `#[context_var]`, parsed: `[attrs] [vis] static NAME: TYPE;`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Error, Expr, Ident, Token, Type, Visibility};

/// `[attrs] [vis] static NAME: TYPE;`, the item under `#[context_var]`.
///
/// `static mut` and an initializer are parsed so that they can be reported with the other
/// mistakes (see `valid.rs`).
pub struct Declaration {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub mutability: Option<Token![mut]>,
    pub ident: Ident,
    pub ty: Type,
    pub init: Option<(Token![=], Expr)>,
}

impl Parse for Declaration {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if !input.peek(Token![static]) {
            let rest: TokenStream = input.parse()?;
            return Err(Error::new_spanned(
                quote!(#vis #rest),
                "#[context_var] goes on a `static NAME: TYPE;` item",
            ));
        }
        input.parse::<Token![static]>()?;
        let mutability = input.parse()?;
        let ident = input.parse()?;
        input.parse::<Token![:]>()?;
        let ty = input.parse()?;
        let init = if input.peek(Token![=]) {
            Some((input.parse()?, input.parse()?))
        } else {
            None
        };
        input.parse::<Token![;]>()?;
        Ok(Declaration {
            attrs,
            vis,
            mutability,
            ident,
            ty,
            init,
        })
    }
}
