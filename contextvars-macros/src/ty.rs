use proc_macro2::Span;
use syn::{GenericArgument, Lifetime, Path, PathArguments, Type, TypeParamBound};

/// `ty` with every elided `&` lifetime and every `'_` made `'static`, for positions such as a
/// function's return type where elision does not mean `'static`.
///
/// Lifetimes inside `fn(..)` pointers and `Fn(..)` sugar are left alone: there they are
/// higher-ranked, which is what the user meant. Lifetimes hidden in a path (`Cow<str>`) cannot
/// be seen in the tokens; they must be written (`Cow<'static, str>`).
pub fn with_static_lifetimes(ty: &Type) -> Type {
    let mut ty = ty.clone();
    fill_type(&mut ty);
    ty
}

fn fill_type(ty: &mut Type) {
    match ty {
        Type::Reference(reference) => {
            match &mut reference.lifetime {
                None => reference.lifetime = Some(make_static(reference.and_token.span)),
                Some(lifetime) => fill_lifetime(lifetime),
            }
            fill_type(&mut reference.elem);
        }
        Type::Array(array) => fill_type(&mut array.elem),
        Type::Group(group) => fill_type(&mut group.elem),
        Type::Paren(paren) => fill_type(&mut paren.elem),
        Type::Ptr(ptr) => fill_type(&mut ptr.elem),
        Type::Slice(slice) => fill_type(&mut slice.elem),
        Type::Tuple(tuple) => tuple.elems.iter_mut().for_each(fill_type),
        Type::Path(path) => {
            if let Some(qself) = &mut path.qself {
                fill_type(&mut qself.ty);
            }
            fill_path(&mut path.path);
        }
        Type::TraitObject(object) => {
            for bound in &mut object.bounds {
                match bound {
                    TypeParamBound::Lifetime(lifetime) => fill_lifetime(lifetime),
                    TypeParamBound::Trait(bound) => fill_path(&mut bound.path),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn fill_path(path: &mut Path) {
    for segment in &mut path.segments {
        if let PathArguments::AngleBracketed(arguments) = &mut segment.arguments {
            for argument in &mut arguments.args {
                match argument {
                    GenericArgument::Lifetime(lifetime) => fill_lifetime(lifetime),
                    GenericArgument::Type(ty) => fill_type(ty),
                    GenericArgument::AssocType(assoc) => fill_type(&mut assoc.ty),
                    _ => {}
                }
            }
        }
    }
}

fn fill_lifetime(lifetime: &mut Lifetime) {
    if lifetime.ident == "_" {
        *lifetime = make_static(lifetime.span());
    }
}

fn make_static(span: Span) -> Lifetime {
    Lifetime::new("'static", span)
}

#[cfg(test)]
mod tests {
    use super::with_static_lifetimes;
    use quote::ToTokens;
    use syn::Type;

    fn fill(ty: &str) -> String {
        let ty: Type = syn::parse_str(ty).unwrap();
        with_static_lifetimes(&ty).to_token_stream().to_string()
    }

    fn same(ty: &str) -> String {
        let ty: Type = syn::parse_str(ty).unwrap();
        ty.to_token_stream().to_string()
    }

    #[test]
    fn elided_and_placeholder_lifetimes_become_static() {
        assert_eq!(fill("&str"), same("&'static str"));
        assert_eq!(fill("&'_ [u8]"), same("&'static [u8]"));
        assert_eq!(fill("Vec<&str>"), same("Vec<&'static str>"));
        assert_eq!(
            fill("Option<(&str, [&u8; 2])>"),
            same("Option<(&'static str, [&'static u8; 2])>")
        );
        assert_eq!(fill("Cow<'_, str>"), same("Cow<'static, str>"));
        assert_eq!(
            fill("Box<dyn Iterator<Item = &str> + '_>"),
            same("Box<dyn Iterator<Item = &'static str> + 'static>")
        );
        assert_eq!(fill("&mut &str"), same("&'static mut &'static str"));
    }

    #[test]
    fn named_and_higher_ranked_lifetimes_are_kept() {
        assert_eq!(fill("&'static str"), same("&'static str"));
        assert_eq!(fill("fn(&str) -> &str"), same("fn(&str) -> &str"));
        assert_eq!(
            fill("Box<dyn Fn(&str) -> &str>"),
            same("Box<dyn Fn(&str) -> &str>")
        );
        assert_eq!(fill("u64"), same("u64"));
    }
}
