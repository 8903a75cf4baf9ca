//! `ContextVar`, the `Token` that undoes a `set`, and the scoped forms of `set`.

use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::current::{self, Displaced};
use crate::error::{LookupError, ResetError, ResetErrorKind};
use crate::keys;
use crate::map::{Entry, Meta, ValueRef, is_plain, store};

mod token;

pub use token::{SetGuard, Token};

/// A context variable: a value that depends on the current [`Context`](crate::Context).
///
/// Declare one as a `static` (the constructors are `const fn`) or with the
/// [`#[context_var]`](https://docs.rs/contextvars/latest/contextvars/attr.context_var.html)
/// attribute. [`get`](Self::get) reads the value bound in the current context, else the
/// variable's default; [`set`](Self::set) binds a new value in the current context and returns a
/// [`Token`] that [`reset`](Self::reset) uses to restore what was there before.
///
/// ```
/// # use contextvars_core as contextvars;
/// use contextvars::ContextVar;
///
/// static USER_ID: ContextVar<u64> = ContextVar::with_default("user_id", || 0);
///
/// assert_eq!(USER_ID.get(), 0);
/// let token = USER_ID.set(42);
/// assert_eq!(USER_ID.get(), 42);
/// USER_ID.reset(token).unwrap();
/// assert_eq!(USER_ID.get(), 0);
/// ```
///
/// Values are shared between the contexts that hold them, never copied: `get` clones the value
/// out (cheap for `u64`, `Arc<str>` and the like), [`with`](Self::with) borrows it.
pub struct ContextVar<T> {
    name: &'static str,
    /// The map key, allocated on first use; 0 until then.
    key: AtomicU64,
    /// The record its bindings point to (see [`Meta::of`]), found on first use; null until then.
    meta: AtomicPtr<Meta>,
    default: Option<fn() -> T>,
    default_value: OnceLock<T>,
    inherit: bool,
}

impl<T> ContextVar<T> {
    /// A variable with no default: reading it where it was never set is a [`LookupError`].
    #[must_use]
    pub const fn new(name: &'static str) -> ContextVar<T> {
        ContextVar {
            name,
            key: AtomicU64::new(0),
            meta: AtomicPtr::new(std::ptr::null_mut()),
            default: None,
            default_value: OnceLock::new(),
            inherit: true,
        }
    }

    /// A variable whose value, where it was never set, is `default()`.
    ///
    /// Like Python's `ContextVar(name, default=...)`, the default is one value per variable:
    /// `default` runs once, the first time it is needed, and reads clone that value.
    #[must_use]
    pub const fn with_default(name: &'static str, default: fn() -> T) -> ContextVar<T> {
        ContextVar {
            name,
            key: AtomicU64::new(0),
            meta: AtomicPtr::new(std::ptr::null_mut()),
            default: Some(default),
            default_value: OnceLock::new(),
            inherit: true,
        }
    }

    /// Whether tasks and threads started through this crate's helpers inherit this variable.
    ///
    /// With `inherit(false)` the variable starts from its default in every child (see
    /// [`Context::inherited`](crate::Context::inherited)): the place for a database transaction
    /// or a request's session, which must not leak into background work. [`copy_context`]
    /// and [`Context::run`](crate::Context::run) are not affected.
    ///
    /// ```
    /// # use contextvars_core as contextvars;
    /// use contextvars::ContextVar;
    ///
    /// static TRANSACTION: ContextVar<u32> = ContextVar::new("transaction").inherit(false);
    /// # assert!(!TRANSACTION.inherits());
    /// ```
    ///
    /// [`copy_context`]: crate::copy_context
    #[must_use]
    pub const fn inherit(self, inherit: bool) -> ContextVar<T> {
        let mut var = self;
        var.inherit = inherit;
        // Bindings made from now on point to the record of the new setting.
        var.meta = AtomicPtr::new(std::ptr::null_mut());
        var
    }

    /// The name given at construction.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether child tasks and threads inherit this variable (see [`inherit`](Self::inherit)).
    #[must_use]
    pub fn inherits(&self) -> bool {
        self.inherit
    }

    /// Whether the variable has a default.
    #[must_use]
    pub fn has_default(&self) -> bool {
        self.default.is_some()
    }

    /// The key if this variable was ever set, else 0.
    #[inline]
    pub(crate) fn key_if_any(&self) -> u64 {
        self.key.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn key(&self) -> u64 {
        match self.key.load(Ordering::Relaxed) {
            0 => self.allocate_key(),
            key => key,
        }
    }

    #[cold]
    fn allocate_key(&self) -> u64 {
        let fresh = keys::next_var_key();
        match self
            .key
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            Err(winner) => winner,
        }
    }
}

impl<T: Send + Sync + 'static> ContextVar<T> {
    /// The record every binding of this variable points to.
    #[inline]
    pub(crate) fn meta(&self) -> &'static Meta {
        let meta = self.meta.load(Ordering::Acquire);
        if meta.is_null() {
            return self.find_meta();
        }
        // SAFETY: only `find_meta` stores here, a `&'static Meta` (Release, so its contents are
        // visible after the Acquire above).
        unsafe { &*meta }
    }

    #[cold]
    #[inline(never)]
    fn find_meta(&self) -> &'static Meta {
        let meta = Meta::of::<T>(self.name, self.inherit);
        // Every thread finds the same record: a race stores the same pointer.
        self.meta
            .store(std::ptr::from_ref(meta).cast_mut(), Ordering::Release);
        meta
    }

    /// `value` as this variable's bindings hold it.
    #[inline]
    pub(crate) fn store(&self, value: T) -> ValueRef {
        // SAFETY: the record is `Meta::of::<T>`'s.
        unsafe { store(value, self.meta()) }
    }

    /// The default value, made on first call. `None` when the variable has no default.
    ///
    /// # Panics
    /// If the default factory panics (the next call runs it again).
    #[must_use]
    pub fn default_value(&self) -> Option<&T> {
        self.default
            .map(|make| self.default_value.get_or_init(make))
    }

    /// A new default value, from a new call of the factory (what a reset by the registry binds).
    pub(crate) fn make_default(&self) -> Option<T> {
        self.default.map(|make| make())
    }

    /// Calls `f` with a borrow of the value in the current context, else of the default, else
    /// with `None`. Nothing is cloned.
    ///
    /// `f` may use the context freely (set this or other variables, enter other contexts): the
    /// borrowed value stays alive until `f` returns.
    ///
    /// ```
    /// # use contextvars_core as contextvars;
    /// use contextvars::ContextVar;
    ///
    /// static PATH: ContextVar<String> = ContextVar::new("path");
    ///
    /// assert_eq!(PATH.with(|p| p.map(String::len)), None);
    /// let _token = PATH.set("/index.html".to_owned());
    /// assert_eq!(PATH.with(|p| p.map(String::len)), Some(11));
    /// ```
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        let key = self.key_if_any();
        if is_plain::<T>() {
            // A copy, which no write can displace: no borrow to count. A key of 0 finds nothing.
            // SAFETY: the key is this variable's, and `T` is plain.
            return match unsafe { current::copy_out::<T>(key) } {
                Some(value) => f(Some(&value)),
                None => f(self.default_value()),
            };
        }
        if key == 0 {
            return f(self.default_value());
        }
        current::read(key, |value| match value {
            // SAFETY: `key` is this variable's, so its value is a `T`.
            Some(value) => f(Some(unsafe { value.downcast_unchecked::<T>() })),
            None => f(self.default_value()),
        })
    }

    /// The value in the current context, else the default.
    ///
    /// # Errors
    /// [`LookupError`] when the variable has neither.
    // `Option::cloned` as a path is not general over the borrow's lifetime.
    #[allow(clippy::redundant_closure_for_method_calls)]
    pub fn try_get(&self) -> Result<T, LookupError>
    where
        T: Clone,
    {
        self.with(|value| value.cloned())
            .ok_or_else(|| LookupError::new(self.name))
    }

    /// The value in the current context, else the default.
    ///
    /// # Panics
    /// With the [`LookupError`] text when the variable has neither; use
    /// [`try_get`](Self::try_get) or [`get_or`](Self::get_or) where that can happen.
    #[inline]
    #[must_use]
    #[track_caller]
    #[allow(clippy::redundant_closure_for_method_calls)]
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        if is_plain::<T>() {
            // A key of 0 (never set) finds nothing.
            // SAFETY: the key is this variable's, and `T` is plain.
            if let Some(value) = unsafe { current::copy_out::<T>(self.key_if_any()) } {
                return value;
            }
            return self.get_slow();
        }
        match self.with(|value| value.cloned()) {
            Some(value) => value,
            None => lookup_failed(self.name),
        }
    }

    /// `get` of a plain value that the current context does not bind: the default.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn get_slow(&self) -> T
    where
        T: Clone,
    {
        match self.default_value() {
            Some(value) => value.clone(),
            None => lookup_failed(self.name),
        }
    }

    /// The value in the current context, else `fallback` (which wins over the variable's own
    /// default, as the argument of Python's `var.get(default)` does).
    #[must_use]
    pub fn get_or(&self, fallback: T) -> T
    where
        T: Clone,
    {
        let key = self.key_if_any();
        if key == 0 {
            return fallback;
        }
        current::read(key, |value| match value {
            // SAFETY: `key` is this variable's, so its value is a `T`.
            Some(value) => unsafe { value.downcast_unchecked::<T>() }.clone(),
            None => fallback,
        })
    }

    /// Whether the current context binds this variable (its default does not count).
    #[must_use]
    pub fn is_set(&self) -> bool {
        let key = self.key_if_any();
        key != 0 && current::with_current_ref(|ctx| ctx.map.get(key).is_some())
    }

    /// Binds `value` in the current context. The [`Token`] remembers what was there before, for
    /// [`reset`](Self::reset).
    ///
    /// # Panics
    /// Under `contextvars::tokio::LeakCheck::Panic`, when called from a tokio task that runs in
    /// its worker thread's own context.
    #[track_caller]
    pub fn set(&self, value: T) -> Token<T> {
        crate::set_hook::before_set(self.name);
        let key = self.key();
        let entry = Entry {
            key,
            value: self.store(value),
        };
        let (context, (old, released)) =
            current::with_current(|ctx| (ctx.id(), ctx.map.insert(entry)));
        if !released.is_empty() {
            current::dispose(released);
        }
        Token {
            var: key,
            var_name: self.name,
            context,
            old: Displaced::new(old),
            _value: PhantomData,
        }
    }

    /// Restores the variable to what it was before the `set` that made `token`: the old value,
    /// or unbound. This is a restore, not a pop: later sets are overwritten.
    ///
    /// # Errors
    /// [`ResetError`] when the token belongs to another variable ([`ResetErrorKind::WrongVar`])
    /// or was made in another context ([`ResetErrorKind::WrongContext`]). Nothing changes then,
    /// and [`ResetError::into_token`] gives the token back.
    pub fn reset(&self, token: Token<T>) -> Result<(), ResetError<T>> {
        let key = self.key_if_any();
        if key == 0 || token.var != key {
            return Err(ResetError::new(ResetErrorKind::WrongVar, self.name, token));
        }
        let mut token = token;
        let displaced = current::with_current(|ctx| {
            if ctx.id_if_any() != token.context {
                return None;
            }
            Some(match token.old.take() {
                Some(value) => ctx.map.insert(Entry { key, value }),
                None => ctx.map.remove(key),
            })
        });
        match displaced {
            Some((old, released)) => {
                // An inline value has nothing to drop: no trip to the thread state for it.
                if old.as_ref().is_some_and(ValueRef::is_shared) || !released.is_empty() {
                    current::dispose(old.into_iter().chain(released));
                }
                Ok(())
            }
            None => Err(ResetError::new(
                ResetErrorKind::WrongContext,
                self.name,
                token,
            )),
        }
    }

    /// Sets `value` until the returned guard is dropped, then resets: Python 3.14's
    /// `with var.set(value):`.
    ///
    /// ```
    /// # use contextvars_core as contextvars;
    /// use contextvars::ContextVar;
    ///
    /// static LEVEL: ContextVar<u8> = ContextVar::with_default("level", || 1);
    /// {
    ///     let _guard = LEVEL.set_guard(3);
    ///     assert_eq!(LEVEL.get(), 3);
    /// }
    /// assert_eq!(LEVEL.get(), 1);
    /// ```
    ///
    /// The guard is not `Send`, so it cannot be held across an `.await` in a spawned task; use
    /// [`set`](Self::set) and [`reset`](Self::reset) there, whose [`Token`] may move between
    /// threads with its task. Dropping the guard in another context than the one it was made in
    /// (after moving it out of a [`Context::run`](crate::Context::run) closure) leaves the value
    /// where it was set, and is reported by a panic in debug builds.
    #[track_caller]
    pub fn set_guard(&self, value: T) -> SetGuard<'_, T> {
        SetGuard {
            var: self,
            token: Some(self.set(value)),
            _not_send: PhantomData,
        }
    }

    /// Runs `f` with `value` set, then resets, also when `f` panics.
    ///
    /// ```
    /// # use contextvars_core as contextvars;
    /// use contextvars::ContextVar;
    ///
    /// static LOCALE: ContextVar<&str> = ContextVar::with_default("locale", || "en");
    /// let greeting = LOCALE.scope("fr", || format!("locale {}", LOCALE.get()));
    /// assert_eq!(greeting, "locale fr");
    /// assert_eq!(LOCALE.get(), "en");
    /// ```
    pub fn scope<R>(&self, value: T, f: impl FnOnce() -> R) -> R {
        let _guard = self.set_guard(value);
        f()
    }
}

impl<T> Drop for ContextVar<T> {
    /// A variable made at run time takes its binding out of the current context when it goes,
    /// so variables made and dropped in a loop do not pile up in a long-lived context. Other
    /// contexts keep theirs until they are dropped.
    fn drop(&mut self) {
        let key = *self.key.get_mut();
        if key != 0 {
            let (old, released) = current::with_current(|ctx| ctx.map.remove(key));
            current::dispose(old.into_iter().chain(released));
        }
    }
}

impl<T> fmt::Debug for ContextVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextVar")
            .field("name", &self.name)
            .field("has_default", &self.default.is_some())
            .field("inherit", &self.inherit)
            .finish_non_exhaustive()
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn lookup_failed(name: &'static str) -> ! {
    panic!("{}", LookupError::new(name))
}
