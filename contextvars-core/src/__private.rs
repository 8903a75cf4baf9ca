//! Not public API, used by generated code.

use std::sync::OnceLock;

pub use crate::propagate::{Declared as DeclaredPropagated, Propagated};
pub use crate::registry::VarSet;
pub use crate::registry::{ErasedVar, PathStart, Registration, module_vars};
pub use crate::var::ContextVar;
pub use inventory;

/// Not public API, used by generated code: the variables of the module named at one
/// `reset_module!` call site, resolved on the first call there.
pub struct ModuleVars(OnceLock<VarSet>);

impl ModuleVars {
    #[must_use]
    pub const fn new() -> ModuleVars {
        ModuleVars(OnceLock::new())
    }

    pub fn get(&self, here: &str, start: PathStart, segments: &[&str]) -> &VarSet {
        self.0.get_or_init(|| module_vars(here, start, segments))
    }
}

impl Default for ModuleVars {
    fn default() -> ModuleVars {
        ModuleVars::new()
    }
}
