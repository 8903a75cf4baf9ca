//! Futures and streams that run in their own context.
//!
//! A future is polled by whatever thread the executor picks, and between polls the thread runs
//! other tasks; a thread's current context therefore says nothing about a task. [`WithContext`]
//! carries the task's [`Context`] inside the future and makes it current for the length of
//! every poll, with the same swap [`Context::run`] does: one exchange with the thread-local on
//! the way in, one on the way out, no atomic operation and no allocation. Whatever the future
//! sets stays in its context from one poll to the next, so a value set before an `.await` is
//! there after it, on whichever thread the task resumes.

use std::borrow::BorrowMut;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr;
use std::task::{self, Poll};

use crate::Context;

/// Runs futures in a context of their own: `with_context` and `with_current_context`.
///
/// Implemented for every [`Future`]. Import it to use the methods
/// (`use contextvars::FutureExt as _;` where the name would clash with another `FutureExt`).
///
/// ```
/// # use contextvars_core as contextvars;
/// use contextvars::{ContextVar, FutureExt};
///
/// static REQUEST_ID: ContextVar<u32> = ContextVar::with_default("request_id", || 0);
///
/// let _token = REQUEST_ID.set(7);
/// let task = async {
///     let seen = REQUEST_ID.get();
///     REQUEST_ID.set(8);
///     (seen, REQUEST_ID.get())
/// }
/// .with_current_context();
/// assert_eq!(futures::executor::block_on(task), (7, 8));
/// assert_eq!(REQUEST_ID.get(), 7); // the task's change stayed in the task
/// ```
pub trait FutureExt: Future + Sized {
    /// Runs every poll of this future inside `context`; changes persist in it across polls and
    /// awaits. The context is moved into the future and comes back out with
    /// [`WithContext::into_inner`]; to keep it, borrow it with [`Context::run_future`] instead.
    ///
    /// The future sees exactly `context`: variables declared `inherit(false)` included.
    fn with_context(self, context: Context) -> WithContext<Self> {
        WithContext::new(self, context)
    }

    /// Runs every poll of this future in [`Context::inherited`] taken now, at the call, as
    /// `asyncio.create_task` does: the caller's bindings, minus the variables declared
    /// `inherit(false)`, which start from their default. Nothing the future sets flows back.
    fn with_current_context(self) -> WithContext<Self> {
        WithContext::new(self, Context::inherited())
    }
}

impl<F: Future> FutureExt for F {}

/// Runs streams in a context of their own: the [`FutureExt`] methods for a [`Stream`].
///
/// Implemented for every `Stream`; each `poll_next` runs inside the stream's context.
///
/// [`Stream`]: futures_core::Stream
#[cfg(feature = "futures")]
#[cfg_attr(docsrs, doc(cfg(feature = "futures")))]
pub trait StreamExt: futures_core::Stream + Sized {
    /// Runs every `poll_next` of this stream inside `context`; changes persist in it.
    fn with_context(self, context: Context) -> WithContext<Self> {
        WithContext::new(self, context)
    }

    /// Runs every `poll_next` of this stream in [`Context::inherited`] taken at the call.
    fn with_current_context(self) -> WithContext<Self> {
        WithContext::new(self, Context::inherited())
    }
}

#[cfg(feature = "futures")]
#[cfg_attr(docsrs, doc(cfg(feature = "futures")))]
impl<S: futures_core::Stream> StreamExt for S {}

impl Context {
    /// Runs `future` in this context and keeps the changes here: the `async` counterpart of
    /// [`run`](Self::run). Every poll of the returned future makes `self` current, so after the
    /// `.await` this context holds whatever the future set.
    ///
    /// ```
    /// # use contextvars_core as contextvars;
    /// use contextvars::{Context, ContextVar};
    ///
    /// static USER: ContextVar<&str> = ContextVar::new("user");
    ///
    /// let mut ctx = Context::new();
    /// futures::executor::block_on(async {
    ///     ctx.run_future(async { USER.set("Dina") }).await;
    /// });
    /// assert_eq!(ctx.get(&USER), Some("Dina"));
    /// assert!(!USER.is_set()); // the caller's context is untouched
    /// ```
    pub fn run_future<F: Future>(&mut self, future: F) -> WithContext<F, &mut Context> {
        WithContext::new(future, self)
    }
}

/// A future (or stream) that runs every poll inside its own [`Context`].
///
/// Made by [`FutureExt::with_context`], [`FutureExt::with_current_context`] (where `C` is an
/// owned [`Context`]) and [`Context::run_future`] (where `C` is `&mut Context`). The inner
/// future is also dropped inside the context, so destructors that read or reset variables see
/// the task's values.
///
/// A panic in the inner poll leaves the polling thread's context exactly as it was before the
/// poll, as [`Context::run`] does.
#[must_use = "futures do nothing unless polled"]
pub struct WithContext<F, C = Context>
where
    C: BorrowMut<Context>,
{
    /// Structurally pinned; dropped in place by `Drop`, moved out only by `into_inner`.
    inner: ManuallyDrop<F>,
    /// Not structurally pinned.
    context: C,
}

impl<F, C: BorrowMut<Context>> WithContext<F, C> {
    /// Wraps `inner` so that it is polled and dropped inside `context`.
    pub fn new(inner: F, context: C) -> WithContext<F, C> {
        WithContext {
            inner: ManuallyDrop::new(inner),
            context,
        }
    }

    /// The context the inner future runs in, with the changes made so far.
    #[must_use]
    pub fn context(&self) -> &Context {
        self.context.borrow()
    }

    /// The context the inner future runs in, mutably, also when the wrapper is pinned (the
    /// context itself is never pinned). `std::mem::take` on it moves the context out of a
    /// finished future that cannot be unpinned.
    #[must_use]
    pub fn context_mut(self: Pin<&mut Self>) -> &mut Context {
        self.project().1
    }

    /// The inner future (finished or not) and its context, with the changes made so far.
    pub fn into_inner(self) -> (F, C) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped nor used again, so each field is moved out exactly
        // once. `self` was taken by value, so it is not pinned and `inner` may move.
        unsafe {
            let inner = ManuallyDrop::take(&mut this.inner);
            (inner, ptr::read(ptr::from_ref(&this.context)))
        }
    }

    #[inline]
    fn project(self: Pin<&mut Self>) -> (Pin<&mut F>, &mut Context) {
        // SAFETY: nothing here moves out of `self`. `inner` is structurally pinned: it is never
        // moved while pinned (`into_inner` takes `self` by value, so only an unpinned wrapper
        // gives it up), `Drop` drops it in place, and there is no hand-written `Unpin` impl (the
        // auto impl needs `F: Unpin`). `context` is not pinned: nothing relies on its address,
        // so a plain `&mut` to it is fine.
        unsafe {
            let this = self.get_unchecked_mut();
            (
                Pin::new_unchecked(&mut *this.inner),
                this.context.borrow_mut(),
            )
        }
    }
}

impl<F, C: BorrowMut<Context>> Drop for WithContext<F, C> {
    fn drop(&mut self) {
        let inner = &mut self.inner;
        // SAFETY: `inner` is dropped exactly once, here, and in place, as pinning requires; the
        // wrapper never touches it again.
        let drop_inner = || unsafe { ManuallyDrop::drop(inner) };
        self.context.borrow_mut().run(drop_inner);
    }
}

impl<F: Future, C: BorrowMut<Context>> Future for WithContext<F, C> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<F::Output> {
        let (inner, context) = self.project();
        context.run(|| inner.poll(cx))
    }
}

#[cfg(feature = "futures")]
#[cfg_attr(docsrs, doc(cfg(feature = "futures")))]
impl<F, C> futures_core::FusedFuture for WithContext<F, C>
where
    F: futures_core::FusedFuture,
    C: BorrowMut<Context>,
{
    fn is_terminated(&self) -> bool {
        futures_core::FusedFuture::is_terminated(&*self.inner)
    }
}

#[cfg(feature = "futures")]
#[cfg_attr(docsrs, doc(cfg(feature = "futures")))]
impl<S, C> futures_core::Stream for WithContext<S, C>
where
    S: futures_core::Stream,
    C: BorrowMut<Context>,
{
    type Item = S::Item;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Option<S::Item>> {
        let (inner, context) = self.project();
        context.run(|| inner.poll_next(cx))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

#[cfg(feature = "futures")]
#[cfg_attr(docsrs, doc(cfg(feature = "futures")))]
impl<S, C> futures_core::FusedStream for WithContext<S, C>
where
    S: futures_core::FusedStream,
    C: BorrowMut<Context>,
{
    fn is_terminated(&self) -> bool {
        futures_core::FusedStream::is_terminated(&*self.inner)
    }
}

impl<F, C: BorrowMut<Context>> std::fmt::Debug for WithContext<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithContext")
            .field("context", self.context())
            .finish_non_exhaustive()
    }
}
