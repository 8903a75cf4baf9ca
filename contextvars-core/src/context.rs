//! `Context`: a snapshot of bindings that code can run in.

use std::any::Any;
use std::fmt;

use crate::companion::{self, Carried};
use crate::current::{self, ContextData};
use crate::map::Entry;
use crate::var::ContextVar;

/// A set of bindings of context variables, which code can run in.
///
/// Every thread has a current context (empty when the thread starts). [`copy_context`] takes an
/// O(1) snapshot of it; [`Context::run`] makes a context current for the length of a closure, and
/// whatever the closure sets stays in that context afterwards. Cloning a context is the same O(1)
/// snapshot, and the clone is a new, independent context: later changes to either are invisible
/// to the other.
///
/// ```
/// # use contextvars_core as contextvars;
/// use contextvars::{copy_context, ContextVar};
///
/// static NAME: ContextVar<&str> = ContextVar::new("name");
///
/// let mut ctx = copy_context();
/// ctx.run(|| {
///     NAME.set("Dina");
/// });
/// assert_eq!(NAME.try_get().ok(), None); // the caller's context is untouched
/// assert_eq!(ctx.get(&NAME), Some("Dina")); // the change stayed in `ctx`
/// ctx.run(|| assert_eq!(NAME.get(), "Dina"));
/// ```
///
/// A context is also a read-only mapping of the variables bound in it ([`get`](Self::get),
/// [`contains`](Self::contains), [`len`](Self::len), [`iter`](Self::iter)); defaults are not
/// bindings and never appear in it.
#[derive(Default)]
pub struct Context {
    pub(crate) data: ContextData,
    /// The states of the [companions](crate::companion) this context carries.
    pub(crate) carried: Carried,
}

/// An O(1) snapshot of the current context: Python's `contextvars.copy_context()`.
///
/// Every binding is included, `inherit = false` variables too; see [`Context::inherited`] for
/// the copy that child tasks and threads start from.
#[must_use]
pub fn copy_context() -> Context {
    Context {
        data: current::with_current_ref(|ctx| ContextData::with_map(ctx.map.clone())),
        carried: companion::capture(),
    }
}

impl Context {
    /// An empty context: Python's `Context()`.
    #[must_use]
    pub const fn new() -> Context {
        Context {
            data: ContextData::new(),
            carried: None,
        }
    }

    /// An O(1) snapshot of the current context without the variables declared
    /// `inherit = false`: what [`thread::spawn`](crate::thread::spawn), the future adapters
    /// and the spawn helpers give a child.
    #[must_use]
    pub fn inherited() -> Context {
        let (map, removed) = current::with_current_ref(|ctx| ctx.map.inherited());
        // Other references to values the current map still holds: no drop runs user code here,
        // but they go through the same path as every value leaving a map.
        current::dispose(removed);
        Context {
            data: ContextData::with_map(map),
            carried: companion::capture(),
        }
    }

    /// Runs `f` with this context as the thread's current context, then restores the previous
    /// one, also when `f` panics. Whatever `f` sets stays in this context.
    ///
    /// Code inside sees every change at once (a [`copy_context`] taken there contains it).
    /// Contexts nest: a `run` inside a `run` isolates the inner context, and leaving it restores
    /// the outer one exactly. Entering a context twice at once is impossible: `run` takes
    /// `&mut self`.
    #[inline]
    pub fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        // Decided once, before entering: the common path is then the bare pointer swap, with
        // nothing to check on the way out.
        if let Some(carried) = companion::states(&self.carried) {
            return run_carrying(&mut self.data, carried, f);
        }
        let _entered = current::Entered::new(&mut self.data, None);
        f()
    }

    /// Makes this context current until the guard drops: the unscoped form of [`run`](Self::run),
    /// for hooks that enter and leave in separate calls.
    #[inline]
    pub(crate) fn enter(&mut self) -> current::Entered<'_> {
        current::Entered::new(&mut self.data, companion::states(&self.carried))
    }

    /// The value this context binds to `var` (not its default).
    #[must_use]
    pub fn get<T>(&self, var: &ContextVar<T>) -> Option<T>
    where
        T: Clone + Send + Sync + 'static,
    {
        self.get_ref(var).cloned()
    }

    /// A borrow of the value this context binds to `var` (not its default).
    #[must_use]
    pub fn get_ref<T>(&self, var: &ContextVar<T>) -> Option<&T>
    where
        T: Send + Sync + 'static,
    {
        // SAFETY: the entry is bound to `var`'s key, so its value is a `T`.
        self.entry(var)
            .map(|entry| unsafe { entry.value.downcast_unchecked::<T>() })
    }

    /// Whether this context binds `var`. Defaults do not count.
    #[must_use]
    pub fn contains<T: Send + Sync + 'static>(&self, var: &ContextVar<T>) -> bool {
        self.entry(var).is_some()
    }

    fn entry<T: Send + Sync + 'static>(&self, var: &ContextVar<T>) -> Option<&Entry> {
        self.data.map.get(var.key_if_any())
    }

    /// How many variables this context binds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.data.map.len()
    }

    /// Whether this context binds no variable.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.data.map.len() == 0
    }

    /// The bindings, in an unspecified order: each variable's description and its value.
    ///
    /// ```
    /// # use contextvars_core as contextvars;
    /// use contextvars::{Context, ContextVar};
    ///
    /// static A: ContextVar<u32> = ContextVar::new("a");
    /// static B: ContextVar<String> = ContextVar::new("b");
    ///
    /// let mut ctx = Context::new();
    /// ctx.run(|| {
    ///     A.set(1);
    ///     B.set("two".into());
    /// });
    /// let mut names: Vec<_> = ctx.iter().map(|(var, _)| var.name()).collect();
    /// names.sort();
    /// assert_eq!(names, ["a", "b"]);
    /// let a = ctx.iter().find(|(var, _)| var.name() == "a").unwrap().1;
    /// assert_eq!(a.downcast_ref::<u32>(), Some(&1));
    /// ```
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            entries: self.data.map.entries().into_iter(),
        }
    }

    /// True when both contexts bind the same variables to the same stored values. Values are
    /// compared by identity (a value set twice is two values), except those of the primitive
    /// types of at most eight bytes (integers, floats, `bool`, `char`), which are stored inline
    /// and compared by value. Two contexts can be equal while being different contexts for
    /// [`ContextVar::reset`].
    #[must_use]
    pub fn same_bindings(&self, other: &Context) -> bool {
        self.data.map.same_bindings(&other.data.map)
    }
}

/// [`Context::run`] for a context that carries [companion](crate::companion) states.
#[inline]
fn run_carrying<R>(
    data: &mut ContextData,
    carried: &[companion::Carrying],
    f: impl FnOnce() -> R,
) -> R {
    let _entered = current::Entered::new(data, Some(carried));
    f()
}

impl Clone for Context {
    /// An O(1) snapshot; the copy is a new context with its own identity.
    fn clone(&self) -> Context {
        Context {
            data: ContextData::with_map(self.data.map.clone()),
            carried: self.carried.clone(),
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(var, _)| (var.name(), var.type_name())))
            .finish()
    }
}

impl<'a> IntoIterator for &'a Context {
    type Item = (VarInfo, &'a (dyn Any + Send + Sync));
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// What a context knows about a variable it binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VarInfo {
    name: &'static str,
    type_name: &'static str,
    inherit: bool,
}

impl VarInfo {
    /// The variable's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The name of the value's type, as [`std::any::type_name`] gives it.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// Whether children inherit the variable (see [`ContextVar::inherit`]).
    #[must_use]
    pub fn inherits(&self) -> bool {
        self.inherit
    }
}

/// The bindings of a [`Context`]; see [`Context::iter`].
pub struct Iter<'a> {
    entries: std::vec::IntoIter<&'a Entry>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (VarInfo, &'a (dyn Any + Send + Sync));

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.entries.next()?;
        let info = VarInfo {
            name: entry.meta().name,
            type_name: entry.value.type_name(),
            inherit: entry.meta().inherit,
        };
        Some((info, entry.value.as_any()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}
