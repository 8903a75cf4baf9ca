//! `join_all`: sibling futures, each in its own copy of the caller's context.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{self, Poll};

use crate::Context;
use crate::future::{FutureExt, WithContext};

/// Runs `futures` concurrently, each in its own copy of the caller's context, and returns
/// their outputs in input order: `asyncio.gather` for Rust.
///
/// The copies are [`Context::inherited`] taken at this call, so siblings never see each other's
/// changes and none flows back to the caller. Executor-agnostic: the futures are polled in
/// the caller's task. Every wake-up polls each unfinished future, so this suits tens of
/// futures; for thousands, spawn tasks.
///
/// ```
/// # use contextvars_core as contextvars;
/// use contextvars::{join_all, ContextVar};
///
/// static STEP: ContextVar<u32> = ContextVar::with_default("step", || 0);
///
/// let _token = STEP.set(1);
/// let branches = (10..13).map(|n| async move {
///     let inherited = STEP.get();
///     STEP.set(n);
///     (inherited, STEP.get())
/// });
/// let outputs = futures::executor::block_on(join_all(branches));
/// assert_eq!(outputs, [(1, 10), (1, 11), (1, 12)]);
/// assert_eq!(STEP.get(), 1);
/// ```
pub fn join_all<I>(futures: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let base = Context::inherited();
    let slots: Box<[Slot<I::Item>]> = futures
        .into_iter()
        .map(|future| Slot::Running(future.with_context(base.clone())))
        .collect();
    JoinAll {
        pending: slots.len(),
        slots: Box::into_pin(slots),
    }
}

/// The future [`join_all`] returns.
#[must_use = "futures do nothing unless polled"]
pub struct JoinAll<F: Future> {
    slots: Pin<Box<[Slot<F>]>>,
    pending: usize,
}

enum Slot<F: Future> {
    Running(WithContext<F>),
    Done(Option<F::Output>),
}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Vec<F::Output>> {
        let this = &mut *self;
        // SAFETY: the slots never move: the boxed slice is pinned and never reallocated, a
        // finished future is dropped in place by assigning over its slot, and only outputs
        // (which are not pinned) are moved out.
        let slots = unsafe { this.slots.as_mut().get_unchecked_mut() };
        for slot in slots.iter_mut() {
            if let Slot::Running(future) = slot {
                // SAFETY: as above, `future` stays where it is until it is dropped.
                let future = unsafe { Pin::new_unchecked(future) };
                if let Poll::Ready(output) = future.poll(cx) {
                    *slot = Slot::Done(Some(output));
                    this.pending -= 1;
                }
            }
        }
        if this.pending > 0 {
            return Poll::Pending;
        }
        let outputs = slots
            .iter_mut()
            .map(|slot| match slot {
                Slot::Done(output) => output.take().expect("`JoinAll` polled after completion"),
                Slot::Running(_) => unreachable!("no future is left running"),
            })
            .collect();
        Poll::Ready(outputs)
    }
}

impl<F: Future> fmt::Debug for JoinAll<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinAll")
            .field("len", &self.slots.len())
            .field("pending", &self.pending)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    //! The unsafe pinning in `WithContext` and `JoinAll`, small enough for Miri.

    use std::future::Future;
    use std::pin::pin;
    use std::task::{self, Poll, Waker};

    use crate::{Context, ContextVar, FutureExt, join_all};

    static NAME: ContextVar<String> = ContextVar::new("name");

    /// Pending `n` times (waking itself), then ready with a string that lives on the heap, so
    /// Miri sees any use after free or double drop of outputs and futures.
    fn after(n: usize, name: &str) -> impl Future<Output = String> + use<> {
        let mut left = n;
        let name = name.to_owned();
        std::future::poll_fn(move |cx| {
            if left == 0 {
                return Poll::Ready(name.clone());
            }
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        let mut cx = task::Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
        }
    }

    #[test]
    fn join_all_drops_each_future_once_and_keeps_order() {
        let branches = [3, 0, 1].map(|n| async move {
            NAME.set(format!("branch {n}"));
            let done = after(n, "x").await;
            format!("{done} {}", NAME.get())
        });
        let outputs = block_on(join_all(branches));
        assert_eq!(outputs, ["x branch 3", "x branch 0", "x branch 1"]);
        assert!(!NAME.is_set());
    }

    #[test]
    fn unfinished_join_all_and_wrappers_drop_cleanly() {
        let mut cx = task::Context::from_waker(Waker::noop());
        let mut joined = Box::pin(join_all([after(0, "a"), after(5, "b")]));
        assert!(joined.as_mut().poll(&mut cx).is_pending());
        drop(joined);

        let mut wrapped = Box::pin(async { NAME.set("set".into()) }.with_context(Context::new()));
        assert!(wrapped.as_mut().poll(&mut cx).is_ready());
        let ctx = std::mem::take(wrapped.as_mut().context_mut());
        assert_eq!(ctx.get(&NAME).as_deref(), Some("set"));

        let (inner, ctx) = Box::pin(after(1, "c")).with_current_context().into_inner();
        assert_eq!(block_on(inner), "c");
        assert!(ctx.is_empty());
    }
}
