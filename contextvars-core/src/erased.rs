//! A declared variable with its value type erased, as the registry holds it.

use std::any::Any;

use crate::current;
use crate::map::{Entry, Value};
use crate::var::ContextVar;

/// Not public API, used by generated code: a `ContextVar<T>` with its `T` erased.
pub trait ErasedVar: Sync {
    /// The variable's name.
    fn name(&self) -> &'static str;
    /// The type of its values.
    fn type_name(&self) -> &'static str;
    /// Whether children inherit it.
    fn inherits(&self) -> bool;
    /// A binding of the variable to a fresh default, or `None` without a default.
    fn fresh_default(&self) -> Option<FreshDefault>;
    /// Calls `f` once, with the value bound in the current context or `None`.
    fn with_bound(&self, f: &mut dyn FnMut(Option<&(dyn Any + Send + Sync)>));
}

/// Not public API: a binding made by [`ErasedVar::fresh_default`].
pub struct FreshDefault(pub(crate) Entry);

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
            value: self.store(value),
        }))
    }

    fn with_bound(&self, f: &mut dyn FnMut(Option<&(dyn Any + Send + Sync)>)) {
        // One lookup of the bound value (a key of 0, never set, finds nothing); no default.
        current::read(self.key_if_any(), |value| f(value.map(Value::as_any)));
    }
}
