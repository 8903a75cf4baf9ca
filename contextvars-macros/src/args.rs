use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Error, Expr, ExprLit, Lit, LitStr, Meta, Path, Token};

/// The arguments of `#[context_var(...)]`.
pub struct Args {
    pub default: Option<Expr>,
    pub inherit: bool,
    pub krate: Path,
}

impl Args {
    /// Parses every argument it can, pushing one error per mistake so that all of them are
    /// reported in one compile.
    pub fn parse(tokens: TokenStream, errors: &mut Vec<Error>) -> Args {
        let mut args = Args {
            default: None,
            inherit: true,
            krate: syn::parse_quote!(::contextvars),
        };
        let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(tokens) {
            Ok(metas) => metas,
            Err(error) => {
                errors.push(error);
                return args;
            }
        };
        let mut seen_default = false;
        let mut seen_unknown = false;
        let mut seen_inherit = false;
        let mut seen_crate = false;
        for meta in metas {
            let Some(key) = meta.path().get_ident().map(ToString::to_string) else {
                seen_unknown = true;
                errors.push(unknown(&meta));
                continue;
            };
            match key.as_str() {
                "default" => match value(&meta, "default = EXPR") {
                    Ok(_) if seen_default => errors.push(duplicate(&meta, &key)),
                    Ok(expr) => {
                        seen_default = true;
                        args.default = Some(expr.clone());
                    }
                    Err(error) => {
                        seen_default = true;
                        errors.push(error);
                    }
                },
                "inherit" => match value(&meta, "inherit = false").and_then(boolean) {
                    Ok(_) if seen_inherit => errors.push(duplicate(&meta, &key)),
                    Ok(inherit) => {
                        seen_inherit = true;
                        args.inherit = inherit;
                    }
                    Err(error) => errors.push(error),
                },
                "crate" => match value(&meta, "crate = path::to::contextvars").and_then(path) {
                    Ok(_) if seen_crate => errors.push(duplicate(&meta, &key)),
                    Ok(krate) => {
                        seen_crate = true;
                        args.krate = krate;
                    }
                    Err(error) => errors.push(error),
                },
                _ => {
                    seen_unknown = true;
                    errors.push(unknown(&meta));
                }
            }
        }
        // An unknown key may be a misspelt `default`: say so once, not twice.
        if !seen_default && !seen_unknown {
            errors.push(Error::new(
                Span::call_site(),
                "missing `default = ...`: write #[context_var(default = EXPR)]",
            ));
        }
        args
    }
}

fn value<'a>(meta: &'a Meta, usage: &str) -> syn::Result<&'a Expr> {
    match meta {
        Meta::NameValue(name_value) => Ok(&name_value.value),
        _ => Err(Error::new_spanned(
            meta,
            format!("expected a value: write `{usage}`"),
        )),
    }
}

fn boolean(expr: &Expr) -> syn::Result<bool> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(lit),
            ..
        }) => Ok(lit.value),
        _ => Err(Error::new_spanned(expr, "expected `true` or `false`")),
    }
}

fn path(expr: &Expr) -> syn::Result<Path> {
    match expr {
        Expr::Path(path) if path.qself.is_none() => Ok(path.path.clone()),
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => parse_str_path(lit),
        _ => Err(Error::new_spanned(
            expr,
            "expected the path of the contextvars crate, such as `my_crate::contextvars`",
        )),
    }
}

fn parse_str_path(lit: &LitStr) -> syn::Result<Path> {
    lit.parse_with(Path::parse_mod_style)
}

fn duplicate(meta: &Meta, key: &str) -> Error {
    Error::new_spanned(meta.path(), format!("duplicate `{key}` argument"))
}

fn unknown(meta: &Meta) -> Error {
    let key = quote::ToTokens::to_token_stream(meta.path())
        .to_string()
        .replace(' ', "");
    Error::new_spanned(
        meta.path(),
        format!("unknown context_var argument `{key}`; expected `default`, `inherit` or `crate`"),
    )
}
