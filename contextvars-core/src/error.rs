//! The errors of the context-variable API.

use std::fmt;

use crate::var::Token;

/// A variable was read with no value in the current context and no default.
///
/// Python raises `LookupError` here; [`ContextVar::try_get`](crate::ContextVar::try_get)
/// returns this instead, and [`ContextVar::get`](crate::ContextVar::get) panics with its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LookupError {
    name: &'static str,
}

impl LookupError {
    pub(crate) fn new(name: &'static str) -> LookupError {
        LookupError { name }
    }

    /// The name of the variable that had no value.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "context variable `{}` has no value in the current context and no default",
            self.name
        )
    }
}

impl std::error::Error for LookupError {}

/// Why [`ContextVar::reset`](crate::ContextVar::reset) refused a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResetErrorKind {
    /// The token was made by another variable's `set`.
    WrongVar,
    /// The token was made in another context than the current one (a copy of a context is
    /// another context, even while it holds the same values).
    WrongContext,
}

/// A refused [`reset`](crate::ContextVar::reset). Nothing was changed, and the token can be taken
/// back with [`into_token`](ResetError::into_token) and used where it belongs.
pub struct ResetError<T> {
    kind: ResetErrorKind,
    var_name: &'static str,
    token: Token<T>,
}

impl<T> ResetError<T> {
    pub(crate) fn new(kind: ResetErrorKind, var_name: &'static str, token: Token<T>) -> Self {
        ResetError {
            kind,
            var_name,
            token,
        }
    }

    /// Why the reset was refused.
    #[must_use]
    pub fn kind(&self) -> ResetErrorKind {
        self.kind
    }

    /// The refused token, unused.
    #[must_use]
    pub fn into_token(self) -> Token<T> {
        self.token
    }
}

impl<T> fmt::Debug for ResetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResetError")
            .field("kind", &self.kind)
            .field("var", &self.var_name)
            .field("token", &self.token)
            .finish()
    }
}

impl<T> fmt::Display for ResetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ResetErrorKind::WrongVar => write!(
                f,
                "cannot reset context variable `{}`: the token was created by a different \
                 ContextVar (`{}`)",
                self.var_name,
                self.token.var_name()
            ),
            ResetErrorKind::WrongContext => write!(
                f,
                "cannot reset context variable `{}`: the token was created in a different Context",
                self.var_name
            ),
        }
    }
}

impl<T> std::error::Error for ResetError<T> {}
