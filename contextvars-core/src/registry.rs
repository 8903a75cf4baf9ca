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
use crate::erased::{ErasedVar, FreshDefault};
use crate::var::ContextVar;

/// A variable declared with `#[context_var]`, as the registry sees it.
pub struct Registration {
    module_path: &'static str,
    var: &'static dyn ErasedVar,
}

inventory::collect!(Registration);

impl Registration {
    pub(crate) const fn new(
        module_path: &'static str,
        var: &'static dyn ErasedVar,
    ) -> Registration {
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

    /// Whether this is the registration of `var`.
    #[must_use]
    pub fn is<T: Send + Sync + 'static>(&self, var: &ContextVar<T>) -> bool {
        std::ptr::addr_eq(std::ptr::from_ref(self.var), std::ptr::from_ref(var))
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
    /// # use contextvars_core as contextvars;
    /// # use contextvars::registry;
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

/// Every registered variable, in an unspecified order.
///
/// ```
/// # use contextvars_core as contextvars;
/// for var in contextvars::registry::all() {
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
