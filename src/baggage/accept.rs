//! Which keys of incoming baggage a receiver believes.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;

use crate::ContextVar;
use crate::propagate;

/// Which keys of incoming baggage a receiver believes. The default, [`Accept::none`], believes
/// none.
///
/// Name the variables rather than their keys where you can: [`var`](Accept::var) takes the
/// variable itself, so a misspelt name does not compile, where a misspelt key in
/// [`keys`](Accept::keys) silently believes nothing.
///
/// ```
/// use contextvars::baggage::Accept;
/// use contextvars::context_var;
///
/// #[context_var(default = String::new(), propagate = "region")]
/// static REGION: String;
/// #[context_var(default = 0, propagate)]
/// static ATTEMPT: u32;
///
/// let accept = Accept::none().var(&REGION).var(&ATTEMPT);
/// assert!(accept.accepts("region") && accept.accepts("ATTEMPT"));
/// assert!(!accept.accepts("REGION") && !accept.accepts("user_id"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accept(AcceptInner);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum AcceptInner {
    #[default]
    None,
    All,
    Some {
        keys: Vec<Cow<'static, str>>,
        vars: Vec<VarRef>,
    },
}

/// A variable named in an [`Accept`], compared by identity.
#[derive(Clone, Copy)]
struct VarRef(&'static (dyn Any + Send + Sync), &'static str);

impl PartialEq for VarRef {
    fn eq(&self, other: &VarRef) -> bool {
        std::ptr::addr_eq(self.0, other.0)
    }
}

impl Eq for VarRef {}

impl fmt::Debug for VarRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }
}

impl Accept {
    /// Believe nothing: for a service that faces the public internet.
    #[must_use]
    pub const fn none() -> Accept {
        Accept(AcceptInner::None)
    }

    /// Believe every propagated variable: for a service that only trusted services call, or a
    /// job consumer reading what its own producers wrote.
    #[must_use]
    pub const fn all() -> Accept {
        Accept(AcceptInner::All)
    }

    /// Believe only these keys.
    #[must_use]
    pub fn keys<K: Into<Cow<'static, str>>>(keys: impl IntoIterator<Item = K>) -> Accept {
        Accept(AcceptInner::Some {
            keys: keys.into_iter().map(Into::into).collect(),
            vars: Vec::new(),
        })
    }

    /// Also believe `var`, under the key it is propagated with (declared `propagate` or
    /// registered with [`Propagated::register`](crate::propagate::Propagated::register)).
    /// Adds nothing to [`Accept::all`]. A variable that is not propagated is never in baggage.
    #[must_use]
    pub fn var<T: Send + Sync + 'static>(self, var: &'static ContextVar<T>) -> Accept {
        let var = VarRef(var, var.name());
        match self.0 {
            AcceptInner::All => Accept::all(),
            AcceptInner::None => Accept(AcceptInner::Some {
                keys: Vec::new(),
                vars: vec![var],
            }),
            AcceptInner::Some { keys, mut vars } => {
                if !vars.contains(&var) {
                    vars.push(var);
                }
                Accept(AcceptInner::Some { keys, vars })
            }
        }
    }

    /// Whether a member with this key is believed.
    #[must_use]
    pub fn accepts(&self, key: &str) -> bool {
        match &self.0 {
            AcceptInner::None => false,
            AcceptInner::All => true,
            AcceptInner::Some { keys, vars } => {
                keys.iter().any(|k| k == key)
                    || (!vars.is_empty()
                        && propagate::by_key(key)
                            .is_some_and(|have| vars.iter().any(|var| have.is_var(var.0))))
            }
        }
    }

    /// Whether no key is believed.
    #[must_use]
    pub fn is_none(&self) -> bool {
        match &self.0 {
            AcceptInner::None => true,
            AcceptInner::All => false,
            AcceptInner::Some { keys, vars } => keys.is_empty() && vars.is_empty(),
        }
    }
}
