//! Closures that run later, anywhere, in the context they were made in.
//!
//! A callback handed to a thread pool, a timer or a library runs on a thread whose context
//! belongs to nobody in particular. [`bind`] captures the caller's context when the callback is
//! made, the moment that matters (capturing when a pool thread starts is the leak `asgiref`
//! had), and runs the callback in it whenever and wherever it is called.
//!
//! Three forms, after how often the callback runs:
//!
//! | form | runs | in |
//! |---|---|---|
//! | [`bind`], [`Context::bind`] | once (`FnOnce`) | the captured context; nothing flows back to the caller |
//! | [`bind_each`], [`Context::bind_each`] | any number of times, from any thread at once (`Fn`) | a fresh copy of the captured context per call: no call sees what another set |
//! | [`ContextTemplate::run`] | one call after another (`&mut self`) | a fresh copy per call, reused while calls leave it untouched |
//!
//! To keep one context across calls instead (Python's `functools.partial(ctx.run, f)`),
//! write `move || ctx.run(f)`: [`Context::run`] takes `&mut self`, so the closure is `FnMut`
//! and two calls can never be inside the same context at once.

use crate::Context;
use crate::current::{self, ContextData};

/// Captures the caller's context now and returns a closure that runs `f` in it later, on
/// whatever thread calls it.
///
/// The captured context is what a child task gets ([`Context::inherited`]): the caller's
/// bindings, minus the variables declared `inherit = false`. Changes `f` makes stay in the
/// closure's context and never reach the caller or the thread that calls it; a panic in `f`
/// leaves the calling thread's context as it was.
///
/// ```
/// # use contextvars_core as contextvars;
/// use std::sync::mpsc;
///
/// use contextvars::ContextVar;
///
/// static REQUEST_ID: ContextVar<u32> = ContextVar::with_default("request_id", || 0);
///
/// // A pool thread that runs whatever jobs it is sent.
/// let (jobs, queue) = mpsc::channel::<Box<dyn FnOnce() -> u32 + Send>>();
/// let pool = std::thread::spawn(move || queue.iter().map(|job| job()).collect::<Vec<_>>());
///
/// let token = REQUEST_ID.set(7);
/// jobs.send(Box::new(contextvars::bind(|| REQUEST_ID.get()))).unwrap();
/// jobs.send(Box::new(|| REQUEST_ID.get())).unwrap(); // not bound: the pool's own context
/// REQUEST_ID.reset(token).unwrap();
/// drop(jobs);
///
/// assert_eq!(pool.join().unwrap(), [7, 0]);
/// ```
pub fn bind<F, R>(f: F) -> impl FnOnce() -> R
where
    F: FnOnce() -> R,
{
    Context::inherited().bind(f)
}

/// Captures the caller's context now and returns a closure that runs `f` in a fresh copy of it
/// at every call, from any thread, several at once.
///
/// Each call starts from the captured bindings; what one call sets is gone when it returns, so
/// a later or concurrent call never sees it. This is the form for callbacks that a pool or a
/// library calls many times (`Fn + Send + Sync` when `f` is). Each call costs one O(1) copy.
///
/// ```
/// # use contextvars_core as contextvars;
/// use contextvars::ContextVar;
///
/// static USER: ContextVar<&str> = ContextVar::with_default("user", || "nobody");
///
/// let _token = USER.set("Dina");
/// let greet = contextvars::bind_each(|| {
///     let user = USER.get();
///     USER.set("changed by a call"); // gone when the call returns
///     format!("hello {user}")
/// });
///
/// let from_threads: Vec<String> = std::thread::scope(|scope| {
///     let greet = &greet;
///     let handles: Vec<_> = (0..3).map(|_| scope.spawn(greet)).collect();
///     handles.into_iter().map(|h| h.join().unwrap()).collect()
/// });
/// assert_eq!(from_threads, ["hello Dina"; 3]);
/// assert_eq!(greet(), "hello Dina");
/// assert_eq!(USER.get(), "Dina");
/// ```
pub fn bind_each<F, R>(f: F) -> impl Fn() -> R
where
    F: Fn() -> R,
{
    Context::inherited().bind_each(f)
}

impl Context {
    /// Returns a closure that runs `f` in this context, later, on whatever thread calls it.
    ///
    /// [`bind`] is this with [`Context::inherited`]. The context moves into the closure and
    /// is dropped with it.
    ///
    /// ```
    /// # use contextvars_core as contextvars;
    /// use contextvars::{Context, ContextVar};
    ///
    /// static LOCALE: ContextVar<&str> = ContextVar::with_default("locale", || "en");
    ///
    /// let mut french = Context::new();
    /// french.run(|| LOCALE.set("fr"));
    /// let job = french.bind(|| LOCALE.get());
    /// assert_eq!(std::thread::spawn(job).join().unwrap(), "fr");
    /// assert_eq!(LOCALE.get(), "en");
    /// ```
    pub fn bind<F, R>(self, f: F) -> impl FnOnce() -> R
    where
        F: FnOnce() -> R,
    {
        let mut context = self;
        move || context.run(f)
    }

    /// Returns a closure that runs `f` in a fresh copy of this context at every call; see
    /// [`bind_each`].
    pub fn bind_each<F, R>(self, f: F) -> impl Fn() -> R
    where
        F: Fn() -> R,
    {
        move || self.clone().run(&f)
    }
}

/// Runs closures one after another, each in a fresh copy of one context.
///
/// [`run`](Self::run) gives every closure the template's bindings and throws away whatever the
/// closure changed, like running each in `template.clone()`, but it reuses the copy while
/// closures leave it untouched, so a run that only reads costs no reference count. This is the
/// building block for thread pools and parallel iterators that run many small jobs in the
/// caller's context: give each worker (or each batch) its own clone of the template.
///
/// ```
/// # use contextvars_core as contextvars;
/// use contextvars::{Context, ContextTemplate, ContextVar};
///
/// static COUNT: ContextVar<u32> = ContextVar::with_default("count", || 0);
///
/// let _token = COUNT.set(10);
/// let mut template = ContextTemplate::new(Context::inherited());
/// let seen: Vec<u32> = (0..3)
///     .map(|i| {
///         template.run(|| {
///             let seen = COUNT.get();
///             COUNT.set(seen + i); // never seen by the next run
///             seen
///         })
///     })
///     .collect();
/// assert_eq!(seen, [10, 10, 10]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ContextTemplate {
    template: Context,
    /// A copy of `template` that runs enter; replaced as soon as a run changed it.
    work: Context,
}

impl ContextTemplate {
    /// A template whose runs start from `context`'s bindings.
    #[must_use]
    pub fn new(context: Context) -> ContextTemplate {
        ContextTemplate {
            work: context.clone(),
            template: context,
        }
    }

    /// The bindings every run starts from.
    #[must_use]
    pub fn context(&self) -> &Context {
        &self.template
    }

    /// Runs `f` in a fresh copy of the template, as [`Context::run`] runs it in a context:
    /// changes are visible inside `f` at once and discarded when it returns or panics.
    pub fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let refresh = Refresh(self);
        refresh.0.work.run(f)
    }

    /// Runs `f` with an iterator over `items` that gives each item a fresh copy of the
    /// template: `f` runs in the template's context, and whatever `f` changes while it handles
    /// one item is gone when it asks for the next. The same as one [`run`](Self::run) per item,
    /// for consumers that pull a whole batch at once: entering the context once per batch, it
    /// costs one comparison per item while items leave the context untouched.
    ///
    /// ```
    /// # use contextvars_core as contextvars;
    /// use contextvars::{Context, ContextTemplate, ContextVar};
    ///
    /// static SEEN: ContextVar<u32> = ContextVar::with_default("seen", || 0);
    ///
    /// let mut template = ContextTemplate::new(Context::new());
    /// let seen: Vec<u32> = template.run_items(1..=3, |items| {
    ///     items
    ///         .map(|i| {
    ///             let before = SEEN.get();
    ///             SEEN.set(i); // gone before the next item
    ///             before
    ///         })
    ///         .collect()
    /// });
    /// assert_eq!(seen, [0, 0, 0]);
    /// ```
    pub fn run_items<I, R>(
        &mut self,
        items: I,
        f: impl FnOnce(TemplateItems<'_, I::IntoIter>) -> R,
    ) -> R
    where
        I: IntoIterator,
    {
        let refresh = Refresh(self);
        let ContextTemplate { template, work } = &mut *refresh.0;
        let entered: *const ContextData = &raw const work.data;
        work.run(|| {
            f(TemplateItems {
                items: items.into_iter(),
                template,
                entered,
                seen: current::changes(),
            })
        })
    }
}

/// Replaces the working copy after a run that changed it, also when the run panics.
struct Refresh<'a>(&'a mut ContextTemplate);

impl Drop for Refresh<'_> {
    fn drop(&mut self) {
        let ContextTemplate { template, work } = &mut *self.0;
        // A token made in a run gives the copy an identity; the next run must be another
        // context for `reset`, so that copy is not reused either.
        if !work.data.map.same_root(&template.data.map) || work.data.id_if_any() != 0 {
            *work = template.clone();
        }
    }
}

/// The items of a [`ContextTemplate::run_items`] call; each item starts from a fresh copy of
/// the template's context.
///
/// Taking an item resets the context that `run_items` entered. Called from anywhere else
/// (inside another [`Context::run`], which this type being neither `Send` nor `Sync` leaves as
/// the only other place), it leaves that context alone.
#[derive(Debug)]
pub struct TemplateItems<'a, I> {
    items: I,
    template: &'a Context,
    /// The working copy `run_items` entered: compared, never dereferenced.
    entered: *const ContextData,
    /// [`current::changes`] when the working copy was last known to be the template.
    seen: u64,
}

impl<I: Iterator> Iterator for TemplateItems<'_, I> {
    type Item = I::Item;

    #[inline]
    fn next(&mut self) -> Option<I::Item> {
        // Items that only read change nothing: one compare each, and no copy.
        if current::changes() != self.seen {
            self.seen = refresh(self.template, self.entered);
        }
        self.items.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.items.size_hint()
    }

    /// What `sum`, `for_each` and most consumers use: the items' own loop with one compare per
    /// item, rather than `next` through this adapter.
    #[inline]
    fn fold<B, F: FnMut(B, I::Item) -> B>(self, init: B, mut f: F) -> B {
        let TemplateItems {
            items,
            template,
            entered,
            mut seen,
        } = self;
        items.fold(init, |acc, item| {
            if current::changes() != seen {
                seen = refresh(template, entered);
            }
            f(acc, item)
        })
    }
}

/// After something may have changed on this thread: puts the template back if the working copy
/// `entered` is current and differs from it. Returns the new [`current::changes`].
#[cold]
#[inline(never)]
fn refresh(template: &Context, entered: *const ContextData) -> u64 {
    let template = &template.data;
    let untouched = current::with_current_ref(|current| {
        !std::ptr::eq(current, entered)
            || current.map.same_root(&template.map) && current.id_if_any() == 0
    });
    if !untouched {
        refresh_current(template);
    }
    current::changes()
}

impl From<Context> for ContextTemplate {
    fn from(context: Context) -> ContextTemplate {
        ContextTemplate::new(context)
    }
}

/// Replaces the current context's bindings and identity with a fresh copy of `template`.
#[cold]
#[inline(never)]
fn refresh_current(template: &ContextData) {
    let changed = current::with_current(|current| {
        std::mem::replace(current, ContextData::with_map(template.map.clone()))
    });
    // Dropped with no reference into the thread's state live: may run user code.
    drop(changed);
}

#[cfg(test)]
mod tests {
    //! The raw-pointer comparison and the in-place refresh of `run_items`, for Miri.

    use super::*;
    use crate::{ContextVar, copy_context};

    static V: ContextVar<String> = ContextVar::new("v");

    #[test]
    fn run_items_refreshes_only_the_context_it_entered() {
        V.set("caller".to_owned());
        let mut template = ContextTemplate::new(copy_context());
        let mut other = Context::new();
        let seen = template.run_items(0..4, |items| {
            items
                .map(|i| {
                    let seen = V.get();
                    V.set(format!("item {i}"));
                    other.run(|| V.set(format!("other {i}")));
                    let _token = V.set(format!("token {i}"));
                    seen
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(seen, ["caller"; 4]);
        assert_eq!(other.get(&V).as_deref(), Some("other 3"));
        assert_eq!(template.run(|| V.get()), "caller");
        assert_eq!(V.get(), "caller");
    }

    #[test]
    fn bound_closure_moves_its_context_to_another_thread() {
        V.set("here".to_owned());
        let job = bind(|| {
            V.set("there".to_owned());
            V.get()
        });
        assert_eq!(std::thread::spawn(job).join().unwrap(), "there");
        assert_eq!(V.get(), "here");
    }
}
