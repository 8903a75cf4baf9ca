//! The arguments of `#[context_var(...)]`, parsed with `syn::meta::parser`. Every mistake is
//! recorded and parsing goes on, so that all of them are reported in one compile; the checks
//! that need all the arguments at once are in `valid.rs`.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser};
use syn::{Error, Expr, ExprLit, Lit, LitStr, Path, Token, token};

/// The arguments of `#[context_var(...)]`.
pub struct Args {
    pub default: Option<Expr>,
    pub inherit: bool,
    pub krate: Path,
    pub propagate: Option<Propagate>,
    /// `to_text = f`, with its key for error messages, until `valid.rs` pairs it.
    pub to_text: Option<(Path, Path)>,
    /// `from_text = g`, with its key for error messages, until `valid.rs` pairs it.
    pub from_text: Option<(Path, Path)>,
    /// Whether an argument was unknown: it may be a misspelt `default`.
    pub seen_unknown: bool,
    /// Whether `default` was written, even without a usable value.
    pub seen_default: bool,
}

/// `propagate` or `propagate = "key"`, with `to_text = f, from_text = g` when given.
pub struct Propagate {
    pub key: Option<LitStr>,
    pub to_text: Option<Path>,
    pub from_text: Option<Path>,
}

impl Args {
    /// Parses every argument it can, pushing one error per mistake.
    pub fn parse(tokens: TokenStream, errors: &mut Vec<Error>) -> Args {
        let mut args = Args {
            default: None,
            inherit: true,
            krate: default_crate(),
            propagate: None,
            to_text: None,
            from_text: None,
            seen_unknown: false,
            seen_default: false,
        };
        let mut seen_inherit = false;
        let mut seen_crate = false;
        let parser = syn::meta::parser(|meta| {
            let result = args.argument(&meta, &mut seen_inherit, &mut seen_crate);
            if let Err(error) = result {
                errors.push(error);
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(error) = parser.parse2(tokens) {
            errors.push(error);
        }
        args
    }

    fn argument(
        &mut self,
        meta: &ParseNestedMeta,
        seen_inherit: &mut bool,
        seen_crate: &mut bool,
    ) -> syn::Result<()> {
        let path = &meta.path;
        if path.is_ident("default") {
            let first = !self.seen_default;
            self.seen_default = true;
            let expr: Expr = value(meta, "default = EXPR")?.parse()?;
            once(first, meta, "default")?;
            self.default = Some(expr);
        } else if path.is_ident("inherit") {
            let inherit = boolean(&value(meta, "inherit = false")?.parse()?)?;
            once(!std::mem::replace(seen_inherit, true), meta, "inherit")?;
            self.inherit = inherit;
        } else if path.is_ident("crate") {
            let krate = crate_path(meta)?;
            once(!std::mem::replace(seen_crate, true), meta, "crate")?;
            self.krate = krate;
        } else if path.is_ident("propagate") {
            once(self.propagate.is_none(), meta, "propagate")?;
            let key = propagate_key(meta)?;
            self.propagate = Some(Propagate {
                key,
                to_text: None,
                from_text: None,
            });
        } else if path.is_ident("to_text") {
            let function = function(&value(meta, "to_text = path::to::function")?.parse()?)?;
            once(self.to_text.is_none(), meta, "to_text")?;
            self.to_text = Some((path.clone(), function));
        } else if path.is_ident("from_text") {
            let function = function(&value(meta, "from_text = path::to::function")?.parse()?)?;
            once(self.from_text.is_none(), meta, "from_text")?;
            self.from_text = Some((path.clone(), function));
        } else {
            self.seen_unknown = true;
            return Err(unknown(path));
        }
        Ok(())
    }
}

/// `::contextvars`, where generated code finds the crate unless told otherwise.
pub fn default_crate() -> Path {
    syn::parse_quote!(::contextvars)
}

/// The function an attribute macro goes on, or an error saying `message` where the item is
/// not a function.
pub fn item_fn(item: TokenStream, message: &str) -> syn::Result<syn::ItemFn> {
    syn::parse2(item).map_err(|error| Error::new(error.span(), message))
}

/// `crate = path::to::contextvars` or `crate = "path::to::contextvars"`: where the
/// `contextvars` crate is, for crates that re-export it. Shared by every attribute macro.
pub fn crate_path(meta: &ParseNestedMeta) -> syn::Result<Path> {
    let input = value(meta, "crate = path::to::contextvars")?;
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return lit.parse_with(Path::parse_mod_style);
    }
    let expr: Expr = input.parse()?;
    match expr {
        Expr::Path(path) if path.qself.is_none() => Ok(path.path),
        other => Err(Error::new_spanned(
            other,
            "expected the path of the contextvars crate, such as `my_crate::contextvars`",
        )),
    }
}

/// The input after `key =`, or an error that shows how to write it.
fn value<'a>(meta: &ParseNestedMeta<'a>, usage: &str) -> syn::Result<ParseStream<'a>> {
    if meta.input.peek(Token![=]) {
        meta.value()
    } else {
        Err(Error::new_spanned(
            &meta.path,
            format!("expected a value: write `{usage}`"),
        ))
    }
}

/// After a mistake, the rest of the argument (`= value` or `(...)`), so that the next ones are
/// still read.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.input.parse::<Token![=]>()?;
        meta.input.parse::<Expr>()?;
    } else if meta.input.peek(token::Paren) {
        meta.input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}

fn once(first: bool, meta: &ParseNestedMeta, key: &str) -> syn::Result<()> {
    if first {
        Ok(())
    } else {
        Err(Error::new_spanned(
            &meta.path,
            format!("duplicate `{key}` argument"),
        ))
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

/// `propagate` (the key is the variable's name) or `propagate = "key"`.
fn propagate_key(meta: &ParseNestedMeta) -> syn::Result<Option<LitStr>> {
    let usage = "write `propagate` or `propagate = \"key\"`";
    if meta.input.peek(token::Paren) {
        return Err(Error::new_spanned(&meta.path, usage));
    }
    if !meta.input.peek(Token![=]) {
        return Ok(None);
    }
    let expr: Expr = meta.value()?.parse()?;
    let Expr::Lit(ExprLit {
        lit: Lit::Str(lit), ..
    }) = expr
    else {
        return Err(Error::new_spanned(
            expr,
            format!("expected a string: {usage}"),
        ));
    };
    let key = lit.value();
    let token = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if token {
        Ok(Some(lit))
    } else {
        Err(Error::new_spanned(
            lit,
            "a baggage key is ASCII letters, digits and !#$%&'*+-.^_`|~",
        ))
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

fn unknown(path: &Path) -> Error {
    let key = quote::ToTokens::to_token_stream(path)
        .to_string()
        .replace(' ', "");
    Error::new_spanned(
        path,
        format!(
            "unknown context_var argument `{key}`; expected `default`, `inherit`, `propagate`, `to_text`, `from_text` or `crate`"
        ),
    )
}
