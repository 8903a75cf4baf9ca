//! Not public API, used by generated code and by the facade's tokio support.

use std::sync::OnceLock;

pub use crate::current::Entered;
pub use crate::set_hook::{ThreadContextWriteHook, set_thread_context_write_hook};

pub use crate::erased::{ErasedVar, FreshDefault};
pub use crate::module_path::{PathStart, module_vars};
pub use crate::propagate::{Declared as DeclaredPropagated, Propagated};
pub use crate::registry::Registration;
pub use crate::registry::VarSet;
pub use crate::var::ContextVar;
pub use crate::{Context, FutureExt};
pub use inventory;

/// Not public API, used by generated code: the registration of a declared variable.
#[must_use]
pub const fn registration(module_path: &'static str, var: &'static dyn ErasedVar) -> Registration {
    Registration::new(module_path, var)
}

/// Not public API, used by generated code: the variables of the module named at one
/// `reset_module!` call site, resolved on the first call there.
pub struct ModuleVars(OnceLock<VarSet>);

impl ModuleVars {
    #[must_use]
    pub const fn new() -> ModuleVars {
        ModuleVars(OnceLock::new())
    }

    /// # Panics
    /// When the module has no registered variable, at the macro's call site.
    #[track_caller]
    pub fn get(&self, here: &str, start: PathStart, segments: &[&str]) -> &VarSet {
        if let Some(vars) = self.0.get() {
            return vars;
        }
        // Resolved outside `get_or_init`: a closure would hide the caller from the panic.
        let vars = module_vars(here, start, segments);
        self.0.get_or_init(|| vars)
    }
}

impl Default for ModuleVars {
    fn default() -> ModuleVars {
        ModuleVars::new()
    }
}

/// Not public API, used by the facade's task hooks: makes `context` current until the guard
/// drops, for hooks that enter and leave in separate calls.
#[inline]
pub fn enter(context: &mut Context) -> Entered<'_> {
    context.enter()
}

/// Not public API, used by the facade's leak check: whether no context is entered on this
/// thread, so that the code running is in the thread's own context.
#[must_use]
pub fn in_thread_context() -> bool {
    crate::current::in_thread_context()
}

/// Not public API, used by the facade's task hooks, which drop a task's context outside its
/// poll: drops `context`'s values each on its own, catching a panic of a value's `Drop`, so
/// that one panicking value costs only itself; returns the first panic.
pub fn drop_values_each(mut context: Context) -> Option<Box<dyn std::any::Any + Send>> {
    let map = std::mem::take(&mut context.data.map);
    drop(context);
    crate::current::drop_map_each(map)
}
