//! [`Token`] and [`SetGuard`]: the way back to the value before a `set`.

use std::fmt;
use std::marker::PhantomData;

use super::ContextVar;
use crate::current::Displaced;

/// What [`ContextVar::set`] returns: the way back to the value before the `set`.
///
/// A token is used by moving it into [`ContextVar::reset`], so it cannot be used twice. It may
/// cross threads with the task that made it, and be reset after an `.await`.
pub struct Token<T> {
    pub(super) var: u64,
    pub(super) var_name: &'static str,
    pub(super) context: u64,
    pub(super) old: Displaced,
    pub(super) _value: PhantomData<fn() -> T>,
}

impl<T: 'static> Token<T> {
    /// The value before the `set`, or `None` if the variable was not set (Python's
    /// `Token.MISSING`).
    #[must_use]
    pub fn old_value(&self) -> Option<&T> {
        self.old.get().map(|value| {
            value
                .as_any()
                .downcast_ref::<T>()
                .expect("token of this type")
        })
    }
}

impl<T> Token<T> {
    /// The name of the variable whose `set` made this token.
    #[must_use]
    pub fn var_name(&self) -> &'static str {
        self.var_name
    }
}

impl<T> fmt::Debug for Token<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("var", &self.var_name)
            .field("had_old_value", &self.old.get().is_some())
            .finish_non_exhaustive()
    }
}

/// Resets its variable when dropped. Made by [`ContextVar::set_guard`].
#[must_use = "the value is reset as soon as the guard is dropped"]
pub struct SetGuard<'a, T: Send + Sync + 'static> {
    pub(super) var: &'a ContextVar<T>,
    pub(super) token: Option<Token<T>>,
    pub(super) _not_send: PhantomData<*const ()>,
}

impl<T: Send + Sync + 'static> SetGuard<'_, T> {
    /// The value before the guard's `set`.
    #[must_use]
    pub fn old_value(&self) -> Option<&T> {
        self.token.as_ref().and_then(Token::old_value)
    }
}

impl<T: Send + Sync + 'static> Drop for SetGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            if let Err(error) = self.var.reset(token) {
                debug_assert!(std::thread::panicking(), "SetGuard dropped: {error}");
            }
        }
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for SetGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetGuard")
            .field("var", &self.var.name)
            .finish_non_exhaustive()
    }
}
