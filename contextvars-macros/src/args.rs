use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Error, Expr, ExprLit, Lit, LitStr, Meta, Path, Token};

/// The arguments of `#[context_var(...)]`.
pub struct Args {
    pub default: Option<Expr>,
    pub inherit: bool,
    pub krate: Path,
    pub propagate: Option<Propagate>,
}

/// `propagate` or `propagate = "key"`, with `to_text = f, from_text = g` when given.
pub struct Propagate {
    pub key: Option<LitStr>,
    pub to_text: Option<Path>,
    pub from_text: Option<Path>,
}

impl Args {
    /// Parses every argument it can, pushing one error per mistake so that all of them are
    /// reported in one compile.
    pub fn parse(tokens: TokenStream, errors: &mut Vec<Error>) -> Args {
        let mut args = Args {
            default: None,
            inherit: true,
            krate: syn::parse_quote!(::contextvars),
            propagate: None,
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
        let mut propagate: Option<Propagate> = None;
        let mut seen_propagate = false;
        let mut to_text: Option<(Meta, Path)> = None;
        let mut from_text: Option<(Meta, Path)> = None;
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
                "propagate" if seen_propagate => errors.push(duplicate(&meta, &key)),
                "propagate" => {
                    seen_propagate = true;
                    match propagate_key(&meta) {
                        Ok(key) => {
                            propagate = Some(Propagate {
                                key,
                                to_text: None,
                                from_text: None,
                            });
                        }
                        Err(error) => errors.push(error),
                    }
                }
                "to_text" | "from_text" => {
                    let usage = format!("{key} = path::to::function");
                    let slot = if key == "to_text" {
                        &mut to_text
                    } else {
                        &mut from_text
                    };
                    match value(&meta, &usage).and_then(function) {
                        Ok(_) if slot.is_some() => errors.push(duplicate(&meta, &key)),
                        Ok(function) => *slot = Some((meta.clone(), function)),
                        Err(error) => errors.push(error),
                    }
                }
                _ => {
                    seen_unknown = true;
                    errors.push(unknown(&meta));
                }
            }
        }
        pair_text_functions(propagate.as_mut(), to_text, from_text, errors);
        args.propagate = propagate;
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

/// Gives `propagate` its `to_text` and `from_text`, which come as a pair, with `propagate`.
fn pair_text_functions(
    propagate: Option<&mut Propagate>,
    to_text: Option<(Meta, Path)>,
    from_text: Option<(Meta, Path)>,
    errors: &mut Vec<Error>,
) {
    match (propagate, to_text, from_text) {
        (Some(propagate), Some((_, to)), Some((_, from))) => {
            propagate.to_text = Some(to);
            propagate.from_text = Some(from);
        }
        (_, Some((meta, _)), None) => errors.push(Error::new_spanned(
            meta,
            "`to_text` needs `from_text` too: write `propagate, to_text = f, from_text = g`",
        )),
        (_, None, Some((meta, _))) => errors.push(Error::new_spanned(
            meta,
            "`from_text` needs `to_text` too: write `propagate, to_text = f, from_text = g`",
        )),
        (None, Some((meta, _)), Some(_)) => errors.push(Error::new_spanned(
            meta,
            "`to_text` and `from_text` only apply to a propagated variable: add `propagate`",
        )),
        _ => {}
    }
}

/// `propagate` (the key is the variable's name) or `propagate = "key"`.
fn propagate_key(meta: &Meta) -> syn::Result<Option<LitStr>> {
    let usage = "write `propagate` or `propagate = \"key\"`";
    match meta {
        Meta::Path(_) => Ok(None),
        Meta::NameValue(name_value) => match &name_value.value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => {
                let key = lit.value();
                let token = !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                if token {
                    Ok(Some(lit.clone()))
                } else {
                    Err(Error::new_spanned(
                        lit,
                        "a baggage key is ASCII letters, digits and !#$%&'*+-.^_`|~",
                    ))
                }
            }
            other => Err(Error::new_spanned(
                other,
                format!("expected a string: {usage}"),
            )),
        },
        Meta::List(_) => Err(Error::new_spanned(meta, usage)),
    }
}

fn function(expr: &Expr) -> syn::Result<Path> {
    match expr {
        Expr::Path(path) if path.qself.is_none() => Ok(path.path.clone()),
        _ => Err(Error::new_spanned(
            expr,
            "expected the path of a function, such as `roles::to_text`",
        )),
    }
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
        format!(
            "unknown context_var argument `{key}`; expected `default`, `inherit`, `propagate`, `to_text`, `from_text` or `crate`"
        ),
    )
}
