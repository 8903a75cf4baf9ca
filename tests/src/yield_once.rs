//! An `.await` that gives the executor a chance to run something else, or to move the task to
//! another thread.

use std::task::Poll;

/// Returns `Pending` once (waking itself), then `Ready`.
pub fn yield_once() -> impl Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}
