//! The variables that travel to other processes, each under a key and with a text form.
//!
//! Only the variables listed here ever leave the process: the ones declared with
//! `#[context_var(default = ..., propagate)]` and the ones registered at run time with
//! [`Propagated::register`]. The W3C baggage codec (feature `baggage`) writes and reads them.
//!
//! A propagated value is sent to every service downstream, which may log it: never propagate
//! a secret.

use std::fmt::{self, Display};
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use crate::current;

use crate::var::ContextVar;

/// A variable that travels to other processes under a key: a [`ContextVar`] with its key and
/// its text form.
///
/// Variables declared with `#[context_var(default = ..., propagate)]` are registered for you.
/// Register runtime variables once, at start-up:
///
/// ```
/// # use contextvars_core as contextvars;
/// use contextvars::ContextVar;
/// use contextvars::propagate::{self, Propagated};
///
/// static TENANT: ContextVar<String> = ContextVar::new("tenant");
/// static PRIORITY: ContextVar<u8> = ContextVar::with_default("priority", || 0);
///
/// Propagated::new(&TENANT).register();
/// Propagated::new(&PRIORITY).key("prio").register();
/// assert!(propagate::all().any(|var| var.key() == "prio"));
/// ```
pub struct Propagated<T: 'static> {
    key: Option<&'static str>,
    var: &'static ContextVar<T>,
    to_text: ToText<T>,
    from_text: fn(&str) -> Option<T>,
}

enum ToText<T> {
    Display(fn(&T, &mut dyn fmt::Write)),
    Function(fn(&T) -> String),
}

impl<T> Clone for ToText<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ToText<T> {}

/// The types a variable can travel as without conversion functions: `Display` to write,
/// `FromStr` to read back.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be propagated as text: it needs `Display` and `FromStr`",
    label = "a propagated variable's type needs `Display` and `FromStr`",
    note = "implement both for `{Self}`, or give conversion functions: `#[context_var(default = ..., propagate, to_text = f, from_text = g)]`"
)]
pub trait Text: Display + FromStr {}

impl<T: Display + FromStr> Text for T {}

fn write_display<T: Display>(value: &T, out: &mut dyn fmt::Write) {
    // The writers given here (percent-encoders into a String) never fail.
    let _ = write!(out, "{value}");
}

fn parse_from_str<T: FromStr>(text: &str) -> Option<T> {
    text.parse().ok()
}

impl<T: Clone + Send + Sync + 'static> Propagated<T> {
    /// `var`, written with `Display` and read with `FromStr`, under the variable's name as the
    /// key.
    #[must_use]
    pub const fn new(var: &'static ContextVar<T>) -> Propagated<T>
    where
        T: Text,
    {
        Propagated {
            key: None,
            var,
            to_text: ToText::Display(write_display::<T>),
            from_text: parse_from_str::<T>,
        }
    }

    /// `var`, written with `to_text` and read with `from_text`, which returns `None` for a text
    /// that is not a valid value; under the variable's name as the key.
    ///
    /// ```
    /// # use contextvars_core as contextvars;
    /// use contextvars::ContextVar;
    /// use contextvars::propagate::Propagated;
    ///
    /// static ROLES: ContextVar<Vec<String>> = ContextVar::new("roles");
    ///
    /// fn to_text(roles: &Vec<String>) -> String {
    ///     roles.join(" ")
    /// }
    /// fn from_text(text: &str) -> Option<Vec<String>> {
    ///     Some(text.split(' ').map(str::to_owned).collect())
    /// }
    ///
    /// Propagated::with_text(&ROLES, to_text, from_text).register();
    /// ```
    #[must_use]
    pub const fn with_text(
        var: &'static ContextVar<T>,
        to_text: fn(&T) -> String,
        from_text: fn(&str) -> Option<T>,
    ) -> Propagated<T> {
        Propagated {
            key: None,
            var,
            to_text: ToText::Function(to_text),
            from_text,
        }
    }

    /// Travels under `key` instead of the variable's name.
    ///
    /// A key is an HTTP token: ASCII letters, digits and ``!#$%&'*+-.^_`|~``.
    #[must_use]
    pub const fn key(mut self, key: &'static str) -> Propagated<T> {
        self.key = Some(key);
        self
    }

    /// Adds the variable to the propagated ones, for the rest of the process.
    ///
    /// # Panics
    /// When the key is not an HTTP token (see [`key`](Self::key)).
    #[track_caller]
    pub fn register(self) {
        let key = self.key.unwrap_or(self.var.name());
        assert!(
            is_token(key),
            "`{key}` cannot be a baggage key: use ASCII letters, digits and !#$%&'*+-.^_`|~"
        );
        let var: &'static Propagated<T> = Box::leak(Box::new(self));
        RUNTIME
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(var);
        *TABLE
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

impl<T> fmt::Debug for Propagated<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Propagated")
            .field("key", &self.key.unwrap_or(self.var.name()))
            .field("var", &self.var.name())
            .finish_non_exhaustive()
    }
}

/// A propagated variable with its type erased, as the codecs see it.
pub trait PropagatedVar: Send + Sync {
    /// The key it travels under.
    fn key(&self) -> &'static str;

    /// The variable's name.
    fn var_name(&self) -> &'static str;

    /// Writes the text form of the value bound in the current context (not the default) to
    /// `out`; returns whether there was one.
    fn write_bound(&self, out: &mut dyn fmt::Write) -> bool;

    /// Reads `text` as a value of the variable and binds it in the current context.
    ///
    /// # Errors
    /// [`InvalidValue`] when `text` is not a valid value; nothing changes then.
    fn set_from_text(&self, text: &str) -> Result<(), InvalidValue>;

    /// Whether this is `var`, a `&'static ContextVar<T>` seen as [`Any`](std::any::Any).
    fn is_var(&self, var: &dyn std::any::Any) -> bool;
}

impl<T: Clone + Send + Sync + 'static> PropagatedVar for Propagated<T> {
    fn key(&self) -> &'static str {
        self.key.unwrap_or(self.var.name())
    }

    fn var_name(&self) -> &'static str {
        self.var.name()
    }

    fn write_bound(&self, out: &mut dyn fmt::Write) -> bool {
        let key = self.var.key_if_any();
        if key == 0 {
            return false;
        }
        current::read(key, |value| {
            let Some(value) = value.and_then(|value| value.as_any().downcast_ref::<T>()) else {
                return false;
            };
            match self.to_text {
                ToText::Display(write) => write(value, out),
                ToText::Function(to_text) => {
                    // The writers given here (percent-encoders into a String) never fail.
                    let _ = out.write_str(&to_text(value));
                }
            }
            true
        })
    }

    fn set_from_text(&self, text: &str) -> Result<(), InvalidValue> {
        match (self.from_text)(text) {
            Some(value) => {
                drop(self.var.set(value));
                Ok(())
            }
            None => Err(InvalidValue {
                var: self.var.name(),
                type_name: std::any::type_name::<T>(),
            }),
        }
    }

    fn is_var(&self, var: &dyn std::any::Any) -> bool {
        var.downcast_ref::<ContextVar<T>>()
            .is_some_and(|var| std::ptr::eq(var, self.var))
    }
}

impl fmt::Debug for dyn PropagatedVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` as `{}`", self.var_name(), self.key())
    }
}

/// A text that is not a valid value of a propagated variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidValue {
    var: &'static str,
    type_name: &'static str,
}

impl Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a valid `{}` for context variable `{}`",
            self.type_name, self.var
        )
    }
}

impl std::error::Error for InvalidValue {}

/// Whether `key` is an HTTP token, as a baggage key must be.
#[must_use]
pub fn is_token(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(is_tchar)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Every propagated variable, declared or registered at run time, in an unspecified order.
pub fn all() -> impl Iterator<Item = &'static dyn PropagatedVar> + Clone {
    let table = table();
    (0..table.len()).map(move |i| table[i])
}

/// The propagated variable that travels under `key`, if any. When two variables share a key,
/// the first registered is the one propagated.
#[must_use]
pub fn by_key(key: &str) -> Option<&'static dyn PropagatedVar> {
    table().iter().copied().find(|var| var.key() == key)
}

static RUNTIME: RwLock<Vec<&'static dyn PropagatedVar>> = RwLock::new(Vec::new());
static TABLE: RwLock<Option<Arc<[&'static dyn PropagatedVar]>>> = RwLock::new(None);

fn table() -> Arc<[&'static dyn PropagatedVar]> {
    if let Some(table) = &*TABLE
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Arc::clone(table);
    }
    let runtime = RUNTIME
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // One variable per key, the first registered, so that a key is never written twice.
    let mut table: Vec<&'static dyn PropagatedVar> = Vec::new();
    for var in inventory::iter::<Declared>
        .into_iter()
        .map(|declared| declared.0)
        .chain(runtime.iter().copied())
    {
        if !table.iter().any(|have| have.key() == var.key()) {
            table.push(var);
        }
    }
    let table: Arc<[&'static dyn PropagatedVar]> = table.into();
    *TABLE
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::clone(&table));
    table
}

/// Not public API, used by generated code: a variable declared with `propagate`.
#[doc(hidden)]
pub struct Declared(pub &'static dyn PropagatedVar);

inventory::collect!(Declared);
