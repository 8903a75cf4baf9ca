//! Every variable declared with `#[context_var]`, collected at link time.
//!
//! The attribute registers each variable through [`inventory`]: its name, the module it is
//! declared in (`module_path!()`), its type, and a handle that can reset it to a fresh default.
//! Registration happens before `main` on the platforms inventory supports (Linux, macOS,
//! Windows, the BSDs, WebAssembly and a few others); elsewhere, and under Miri, the registry is
//! empty.
//!
//! A crate that is never named in the final binary is never linked, and its variables are not
//! in the registry: name it (`use my_vars as _;`) if only the registry would reach it.

use std::any::Any;
use std::fmt;

use crate::current;
use crate::map::{Entry, Value, store};
use crate::var::ContextVar;

/// A variable declared with `#[context_var]`, as the registry sees it.
pub struct Registration {
    module_path: &'static str,
    var: &'static dyn ErasedVar,
}

inventory::collect!(Registration);

impl Registration {
    /// Not public API, used by generated code.
    #[doc(hidden)]
    #[must_use]
    pub const fn new(module_path: &'static str, var: &'static dyn ErasedVar) -> Registration {
        Registration { module_path, var }
    }

    /// The variable's name, as written in its declaration.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.var.name()
    }

    /// The module the variable is declared in, as `module_path!()` gives it there
    /// (`my_crate::handlers`).
    #[must_use]
    pub fn module_path(&self) -> &'static str {
        self.module_path
    }

    /// The type of the variable's values.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        self.var.type_name()
    }

    /// Whether child tasks and threads inherit the variable.
    #[must_use]
    pub fn inherits(&self) -> bool {
        self.var.inherits()
    }

    /// Sets a fresh default value (a new call of the variable's `NAME_DEFAULT()`) in the current
    /// context.
    pub fn reset(&'static self) {
        reset(std::iter::once(self));
    }

    /// Calls `f` with a borrow of the value the current context binds to the variable (not its
    /// default), or with `None`: how code that only has the registration reads a value, for
    /// instance to write it in a log line after a `downcast_ref`.
    ///
    /// ```
    /// # use contextvars_core::registry;
    /// for var in registry::all() {
    ///     var.with_value(|value| {
    ///         if let Some(id) = value.and_then(|v| v.downcast_ref::<u64>()) {
    ///             println!("{} = {id}", var.name());
    ///         }
    ///     });
    /// }
    /// ```
    pub fn with_value<R>(&self, f: impl FnOnce(Option<&(dyn Any + Send + Sync)>) -> R) -> R {
        let mut f = Some(f);
        let mut result = None;
        self.var.with_bound(&mut |value| {
            if let Some(f) = f.take() {
                result = Some(f(value));
            }
        });
        result.expect("with_bound calls its closure once")
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.name())
            .field("module_path", &self.module_path)
            .field("type_name", &self.type_name())
            .finish_non_exhaustive()
    }
}

/// Not public API, used by generated code: a `ContextVar<T>` with its `T` erased.
#[doc(hidden)]
pub trait ErasedVar: Sync {
    fn name(&self) -> &'static str;
    fn type_name(&self) -> &'static str;
    fn inherits(&self) -> bool;
    /// A binding of the variable to a fresh default, or `None` without a default.
    fn fresh_default(&self) -> Option<FreshDefault>;
    /// Calls `f` once, with the value bound in the current context or `None`.
    fn with_bound(&self, f: &mut dyn FnMut(Option<&(dyn Any + Send + Sync)>));
}

/// Not public API: a binding made by [`ErasedVar::fresh_default`].
#[doc(hidden)]
pub struct FreshDefault(Entry);

impl<T: Send + Sync + 'static> ErasedVar for ContextVar<T> {
    fn name(&self) -> &'static str {
        ContextVar::name(self)
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }

    fn inherits(&self) -> bool {
        ContextVar::inherits(self)
    }

    fn fresh_default(&self) -> Option<FreshDefault> {
        let value = self.make_default()?;
        Some(FreshDefault(Entry {
            key: self.key(),
            meta: self.meta(),
            value: store(value),
        }))
    }

    fn with_bound(&self, f: &mut dyn FnMut(Option<&(dyn Any + Send + Sync)>)) {
        // One lookup of the bound value (a key of 0, never set, finds nothing); no default.
        current::read(self.key_if_any(), |value| f(value.map(Value::as_any)));
    }
}

/// Every registered variable, in an unspecified order.
///
/// ```
/// for var in contextvars_core::registry::all() {
///     println!("{}::{}: {}", var.module_path(), var.name(), var.type_name());
/// }
/// ```
pub fn all() -> impl Iterator<Item = &'static Registration> {
    inventory::iter::<Registration>.into_iter()
}

/// Sets every registered variable to a fresh default in the current context, in one update;
/// returns how many. Useful between tests, or at the start of a request handled in a reused
/// context.
pub fn reset_all() -> usize {
    reset(all())
}

/// Makes the defaults first (user code, which may panic: then nothing changes), then binds them
/// all in one update of the current context.
fn reset<'a>(vars: impl IntoIterator<Item = &'a Registration>) -> usize {
    let vars = vars.into_iter();
    let mut fresh = Vec::with_capacity(vars.size_hint().0);
    for reg in vars {
        if let Some(FreshDefault(entry)) = reg.var.fresh_default() {
            fresh.push(entry);
        }
    }
    let count = fresh.len();
    let displaced = current::with_current(|ctx| {
        let mut displaced = Vec::with_capacity(count);
        for entry in fresh {
            let (old, released) = ctx.map.insert(entry);
            displaced.extend(old);
            displaced.extend(released);
        }
        displaced
    });
    current::dispose(displaced);
    count
}

/// A set of registered variables, such as the ones of one module
/// (`contextvars::get_context_vars!`), that can be reset together.
#[derive(Clone, Default)]
pub struct VarSet {
    vars: Vec<&'static Registration>,
}

impl VarSet {
    /// A set of the given registrations.
    #[must_use]
    pub fn new(vars: Vec<&'static Registration>) -> VarSet {
        VarSet { vars }
    }

    /// How many variables the set holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether the set holds no variable.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// The variables of the set.
    pub fn iter(&self) -> impl Iterator<Item = &'static Registration> + '_ {
        self.vars.iter().copied()
    }

    /// Sets every variable of the set to a fresh default in the current context, in one
    /// update; returns how many (Python's `reset_context_vars`).
    pub fn reset(&self) -> usize {
        reset(self.vars.iter().copied())
    }

    /// Adds the variables of `other` that are not in `self` yet.
    pub fn extend(&mut self, other: &VarSet) {
        for var in other.iter() {
            if !self.vars.iter().any(|have| std::ptr::eq(*have, var)) {
                self.vars.push(var);
            }
        }
    }
}

impl fmt::Debug for VarSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.vars.iter().map(|reg| (reg.module_path(), reg.name())))
            .finish()
    }
}

impl<'a> IntoIterator for &'a VarSet {
    type Item = &'static Registration;
    type IntoIter = std::iter::Copied<std::slice::Iter<'a, &'static Registration>>;

    fn into_iter(self) -> Self::IntoIter {
        self.vars.iter().copied()
    }
}

/// How a module path written in `reset_module!` starts.
///
/// Not public API, used by generated code.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathStart {
    /// `crate::…` or `crate`.
    Crate,
    /// `self::…` or `self`.
    SelfModule,
    /// `super::…` repeated this many times.
    Super(usize),
    /// `::dep::…`.
    Global,
    /// `name::…`: a child module or import of the calling module first, then a crate.
    Bare,
}

/// The module paths that `start` and `segments`, written in module `here`, may name, in the
/// order they are tried.
fn candidates(here: &str, start: PathStart, segments: &[&str]) -> Vec<String> {
    let join = |base: &str| {
        let mut path = base.to_owned();
        for segment in segments {
            if !path.is_empty() {
                path.push_str("::");
            }
            path.push_str(segment);
        }
        path
    };
    match start {
        PathStart::Crate => vec![join(here.split("::").next().unwrap_or(here))],
        PathStart::SelfModule => vec![join(here)],
        PathStart::Super(levels) => {
            let parts: Vec<&str> = here.split("::").collect();
            let keep = parts.len().saturating_sub(levels).max(1);
            vec![join(&parts[..keep].join("::"))]
        }
        PathStart::Global => vec![join("")],
        PathStart::Bare => vec![join(here), join("")],
    }
}

/// The variables declared directly in the module that `start` and `segments` name, written in
/// module `here`.
///
/// Not public API, used by generated code.
///
/// # Panics
/// When no registered variable is declared in that module: resetting nothing is always a
/// mistake (a typo, an alias, a re-export, a renamed crate), so it is reported, not ignored.
#[doc(hidden)]
#[must_use]
pub fn module_vars(here: &str, start: PathStart, segments: &[&str]) -> VarSet {
    let candidates = candidates(here, start, segments);
    for candidate in &candidates {
        let vars: Vec<_> = all().filter(|reg| reg.module_path == candidate).collect();
        if !vars.is_empty() {
            return VarSet::new(vars);
        }
    }
    panic!(
        "no #[context_var] variable is declared in module `{}` (written in `{here}`); \
         only variables declared directly in the named module count, and aliases, re-exports \
         and renamed crates are not followed",
        candidates.join("` or `")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_resolve_like_rust_paths() {
        let here = "app::handlers::users";
        let c = |start, segments: &[&str]| candidates(here, start, segments);
        assert_eq!(c(PathStart::Crate, &["db"]), ["app::db"]);
        assert_eq!(c(PathStart::Crate, &[]), ["app"]);
        assert_eq!(c(PathStart::SelfModule, &[]), ["app::handlers::users"]);
        assert_eq!(
            c(PathStart::SelfModule, &["m"]),
            ["app::handlers::users::m"]
        );
        assert_eq!(c(PathStart::Super(1), &[]), ["app::handlers"]);
        assert_eq!(c(PathStart::Super(2), &["db"]), ["app::db"]);
        assert_eq!(c(PathStart::Global, &["dep", "m"]), ["dep::m"]);
        assert_eq!(
            c(PathStart::Bare, &["dep", "m"]),
            ["app::handlers::users::dep::m", "dep::m"]
        );
    }
}
