//! Parallel iterators whose items run in a copy of the caller's context.

use contextvars::{Context, ContextTemplate};
use rayon::iter::ParallelIterator;
use rayon::iter::plumbing::{Consumer, Folder, Reducer, UnindexedConsumer};

/// Runs the rest of a rayon parallel iterator in the caller's context: `with_current_context`
/// and `with_context`.
///
/// Implemented for every [`ParallelIterator`]. Every closure that comes *after* the call in the
/// chain (`map`, `filter`, `for_each`, `fold`, `reduce`, the identity of `reduce` and `fold`,
/// and what they call) runs in a copy of the context captured at the call, on whichever pool
/// thread rayon picks. Closures before the call run as rayon runs them, in the pool thread's
/// own context, so put `with_current_context()` right after the source (or after the adapters
/// that need no context).
///
/// ```
/// use contextvars::ContextVar;
/// use contextvars_rayon::ParallelIteratorExt;
/// use rayon::prelude::*;
///
/// static TENANT: ContextVar<&str> = ContextVar::with_default("tenant", || "none");
///
/// let _token = TENANT.set("acme");
/// let tenants: Vec<&str> = (0..1000)
///     .into_par_iter()
///     .with_current_context()
///     .map(|_| TENANT.get())
///     .collect();
/// assert!(tenants.iter().all(|&tenant| tenant == "acme"));
/// ```
///
/// Each item runs in a copy of its own: what one item sets is gone when it is done, no other
/// item sees it, and the pool thread keeps none of it. The context is captured once, at the
/// call; a copy per item costs no allocation and, while items only read, no reference count.
///
/// The adapter is a [`ParallelIterator`] but not an `IndexedParallelIterator`: rayon drives
/// indexed adapters such as `enumerate` and `zip` item by item from outside any closure of
/// ours, so their downstream closures could not run in the context. Index before the call
/// (`.enumerate().with_current_context()`); `collect` keeps the order either way.
pub trait ParallelIteratorExt: ParallelIterator {
    /// Runs every later closure of this iterator in a copy of [`Context::inherited`] taken
    /// now: the caller's bindings minus the variables declared `inherit = false`.
    fn with_current_context(self) -> WithContext<Self> {
        WithContext {
            base: self,
            context: Context::inherited(),
        }
    }

    /// Runs every later closure of this iterator in a copy of `context`, a fresh copy for each
    /// item.
    fn with_context(self, context: Context) -> WithContext<Self> {
        WithContext {
            base: self,
            context,
        }
    }
}

impl<I: ParallelIterator> ParallelIteratorExt for I {}

/// A parallel iterator whose later closures run in copies of a context; see
/// [`ParallelIteratorExt`].
#[must_use = "iterator adaptors are lazy and do nothing unless consumed"]
#[derive(Clone, Debug)]
pub struct WithContext<I> {
    base: I,
    context: Context,
}

impl<I: ParallelIterator> ParallelIterator for WithContext<I> {
    type Item = I::Item;

    fn drive_unindexed<C>(self, consumer: C) -> C::Result
    where
        C: UnindexedConsumer<Self::Item>,
    {
        self.base
            .drive_unindexed(ContextConsumer::new(consumer, &self.context))
    }

    fn opt_len(&self) -> Option<usize> {
        self.base.opt_len()
    }
}

struct ContextConsumer<'c, C> {
    base: C,
    context: &'c Context,
}

impl<'c, C> ContextConsumer<'c, C> {
    fn new(base: C, context: &'c Context) -> ContextConsumer<'c, C> {
        ContextConsumer { base, context }
    }
}

impl<'c, T, C: Consumer<T>> Consumer<T> for ContextConsumer<'c, C> {
    type Folder = ContextFolder<C::Folder>;
    type Reducer = ContextReducer<'c, C::Reducer>;
    type Result = C::Result;

    fn split_at(self, index: usize) -> (Self, Self, Self::Reducer) {
        let context = self.context;
        let (left, right, reducer) = self.base.split_at(index);
        let reducer = ContextReducer {
            base: reducer,
            context,
        };
        (
            ContextConsumer::new(left, context),
            ContextConsumer::new(right, context),
            reducer,
        )
    }

    fn into_folder(self) -> Self::Folder {
        // One copy per batch of items, shared by the batch's items through the template; the
        // folder is made in it too, since rayon's `fold` and `reduce` call their identity here.
        let mut template = ContextTemplate::new(self.context.clone());
        let base = template.run(|| self.base.into_folder());
        ContextFolder { base, template }
    }

    fn full(&self) -> bool {
        self.base.full()
    }
}

impl<T, C: UnindexedConsumer<T>> UnindexedConsumer<T> for ContextConsumer<'_, C> {
    fn split_off_left(&self) -> Self {
        ContextConsumer::new(self.base.split_off_left(), self.context)
    }

    fn to_reducer(&self) -> Self::Reducer {
        ContextReducer {
            base: self.base.to_reducer(),
            context: self.context,
        }
    }
}

struct ContextFolder<F> {
    base: F,
    template: ContextTemplate,
}

impl<T, F: Folder<T>> Folder<T> for ContextFolder<F> {
    type Result = F::Result;

    fn consume(self, item: T) -> Self {
        let ContextFolder { base, mut template } = self;
        let base = template.run(|| base.consume(item));
        ContextFolder { base, template }
    }

    fn consume_iter<It>(self, items: It) -> Self
    where
        It: IntoIterator<Item = T>,
    {
        let ContextFolder { base, mut template } = self;
        let base = template.run_items(items, |items| base.consume_iter(items));
        ContextFolder { base, template }
    }

    fn complete(self) -> F::Result {
        let ContextFolder { base, mut template } = self;
        template.run(|| base.complete())
    }

    fn full(&self) -> bool {
        self.base.full()
    }
}

struct ContextReducer<'c, R> {
    base: R,
    context: &'c Context,
}

impl<T, R: Reducer<T>> Reducer<T> for ContextReducer<'_, R> {
    fn reduce(self, left: T, right: T) -> T {
        self.context.clone().run(|| self.base.reduce(left, right))
    }
}
