//! Choosing variables, and reading their values in the current context.

use std::any::Any;
use std::borrow::Cow;
use std::fmt::{self, Display};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use contextvars::ContextVar;
use contextvars::registry::Registration;

/// A value read from a variable, by the kind of JSON or tracing value it becomes.
#[derive(Clone, Copy)]
pub(crate) enum Scalar<S, D> {
    Str(S),
    U64(u64),
    I64(i64),
    U128(u128),
    I128(i128),
    F64(f64),
    Bool(bool),
    /// Any other type, written with its `Display`, which may panic: see [`render`].
    Display(D),
}

/// A value as a variable's binding lends it.
pub(crate) type Value<'a> = Scalar<&'a str, &'a dyn Display>;

/// What a classifier found out about a value of unknown type.
pub(crate) enum Found<'a> {
    /// The value is of another type.
    OtherType,
    /// The value is a `None`: no field.
    Nothing,
    Value(Value<'a>),
}

/// Finds out whether a value is of one type, and how to write it.
pub(crate) type Classifier = for<'a> fn(&'a (dyn Any + Send + Sync)) -> Found<'a>;

macro_rules! classify_common {
    ($value:ident; $($variant:ident($as:ty): $($ty:ty),*;)*) => {
        $($(
            if let Some(v) = $value.downcast_ref::<$ty>() {
                return Found::Value(Value::$variant(<$as>::from(v.clone())));
            }
            if let Some(v) = $value.downcast_ref::<Option<$ty>>() {
                return v.as_ref().map_or(Found::Nothing, |v| Found::Value(Value::$variant(<$as>::from(v.clone()))));
            }
        )*)*
    };
}

/// Strings, numbers, `bool`, `char`, and `Option`s of those.
///
/// Inlined: where the value's type is known (a variable chosen with its type), the type checks
/// fold away.
#[inline(always)]
pub(crate) fn classify_common(value: &(dyn Any + Send + Sync)) -> Found<'_> {
    macro_rules! strings {
        ($($ty:ty),*) => {$(
            if let Some(v) = value.downcast_ref::<$ty>() {
                return Found::Value(Value::Str(v));
            }
            if let Some(v) = value.downcast_ref::<Option<$ty>>() {
                return v.as_deref().map_or(Found::Nothing, |v| Found::Value(Value::Str(v)));
            }
        )*};
    }
    strings!(String, Arc<str>, Box<str>, Cow<'static, str>);
    if let Some(v) = value.downcast_ref::<&'static str>() {
        return Found::Value(Value::Str(v));
    }
    if let Some(v) = value.downcast_ref::<Option<&'static str>>() {
        return v.map_or(Found::Nothing, |v| Found::Value(Value::Str(v)));
    }
    classify_common! { value;
        U64(u64): u64, u32, u16, u8;
        I64(i64): i64, i32, i16, i8;
        U128(u128): u128;
        I128(i128): i128;
        F64(f64): f64, f32;
        Bool(bool): bool;
    }
    if let Some(&v) = value.downcast_ref::<usize>() {
        return Found::Value(u64::try_from(v).map_or(Value::U128(v as u128), Value::U64));
    }
    if let Some(&v) = value.downcast_ref::<isize>() {
        return Found::Value(i64::try_from(v).map_or(Value::I128(v as i128), Value::I64));
    }
    if let Some(v) = value.downcast_ref::<char>() {
        return Found::Value(Value::Display(v));
    }
    Found::OtherType
}

pub(crate) fn classify_display<T: Display + Send + Sync + 'static>(
    value: &(dyn Any + Send + Sync),
) -> Found<'_> {
    match value.downcast_ref::<T>() {
        Some(value) => Found::Value(Value::Display(value)),
        None => match value.downcast_ref::<Option<T>>() {
            Some(Some(value)) => Found::Value(Value::Display(value)),
            Some(None) => Found::Nothing,
            None => Found::OtherType,
        },
    }
}

/// `value`'s `Display` output, or `None` when it panics: a broken value costs its own field,
/// never the line or the process.
pub(crate) fn render(value: &dyn Display) -> Option<String> {
    catch_unwind(AssertUnwindSafe(|| value.to_string())).ok()
}

/// Calls its argument with the value of the variable in the current context, if bound.
type WithTyped = dyn Fn(&mut dyn FnMut(Value<'_>)) + Send + Sync;

#[derive(Clone)]
pub(crate) enum Source {
    Typed(Arc<WithTyped>),
    Registered(&'static Registration),
}

/// One chosen variable.
#[derive(Clone)]
pub(crate) struct Field {
    /// The key it is written under.
    pub(crate) name: Cow<'static, str>,
    /// The variable's own name, which [`Selection::secret`] matches.
    pub(crate) var_name: &'static str,
    pub(crate) source: Source,
}

/// The chosen variables, shared by the log formatter, the span layer and the request span.
#[derive(Clone)]
pub(crate) struct Selection {
    pub(crate) fields: Vec<Field>,
    pub(crate) classifiers: Vec<Classifier>,
    secrets: Vec<&'static str>,
    /// The key JSON lines nest the variables under, if any.
    pub(crate) nest: Option<Cow<'static, str>>,
}

impl Selection {
    pub(crate) fn new() -> Selection {
        Selection {
            fields: Vec::new(),
            classifiers: vec![classify_common],
            secrets: Vec::new(),
            nest: None,
        }
    }

    pub(crate) fn push(&mut self, field: Field) {
        if !self.secrets.contains(&field.var_name) {
            self.fields.push(field);
        }
    }

    pub(crate) fn push_typed<T>(&mut self, name: Cow<'static, str>, var: &'static ContextVar<T>)
    where
        T: Display + Send + Sync + 'static,
    {
        let has_default = var.has_default();
        let with = move |f: &mut dyn FnMut(Value<'_>)| {
            // Without a default, `with` alone tells a binding from none: one lookup.
            if !has_default || var.is_set() {
                var.with(|value| {
                    if let Some(value) = value {
                        match classify_common(value) {
                            Found::Value(value) => f(value),
                            Found::Nothing => {}
                            Found::OtherType => f(Value::Display(value)),
                        }
                    }
                });
            }
        };
        self.push(Field {
            name,
            var_name: var.name(),
            source: Source::Typed(Arc::new(with)),
        });
    }

    pub(crate) fn push_registered(&mut self, reg: &'static Registration) {
        self.push(Field {
            name: reg.name().to_lowercase().into(),
            var_name: reg.name(),
            source: Source::Registered(reg),
        });
    }

    /// Never writes variables named `name`, chosen before or after.
    pub(crate) fn secret(&mut self, name: &'static str) {
        self.secrets.push(name);
        self.fields.retain(|field| field.var_name != name);
    }

    /// Calls `f` once with the value `field` has in the current context, or with `None` when
    /// it is unbound or of a type no classifier knows.
    pub(crate) fn with_value(&self, field: &Field, f: impl FnOnce(Option<Value<'_>>)) {
        let mut f = Some(f);
        {
            let mut call = |value: Value<'_>| {
                if let Some(f) = f.take() {
                    f(Some(value));
                }
            };
            match &field.source {
                Source::Typed(with) => with(&mut call),
                Source::Registered(reg) => reg.with_value(|value| {
                    let Some(value) = value else { return };
                    for classify in &self.classifiers {
                        match classify(value) {
                            Found::OtherType => {}
                            Found::Nothing => return,
                            Found::Value(value) => return call(value),
                        }
                    }
                }),
            }
        }
        if let Some(f) = f.take() {
            f(None);
        }
    }

    /// Calls `f` with each chosen variable that the current context binds, and its value.
    /// Declared variables of a type no classifier knows are skipped.
    #[cfg(feature = "subscriber")]
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Field, Value<'_>)) {
        for field in &self.fields {
            self.with_value(field, |value| {
                if let Some(value) = value {
                    f(field, value);
                }
            });
        }
    }
}

impl fmt::Debug for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.fields.iter().map(|field| &field.name))
            .finish()
    }
}
