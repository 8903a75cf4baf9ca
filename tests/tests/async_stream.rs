//! Wrapped streams (feature `futures`): every `poll_next` runs in the stream's own context.

use contextvars::{Context, ContextVar, StreamExt as _};
use futures::executor::block_on;
use futures::stream::{self, StreamExt as _};

static COUNT: ContextVar<u32> = ContextVar::with_default("count", || 0);
static NAME: ContextVar<&'static str> = ContextVar::with_default("name", || "nobody");

/// A stream of `count` items, each the next value of `COUNT` in whatever context polls it,
/// tagged with `NAME` as seen at the same time.
fn counter(count: usize) -> impl futures::Stream<Item = (&'static str, u32)> {
    stream::repeat_with(|| {
        let next = COUNT.get() + 1;
        COUNT.set(next);
        (NAME.get(), next)
    })
    .take(count)
}

#[test]
fn changes_persist_between_items_and_never_flow_back() {
    let _name = NAME.set("caller");
    let items: Vec<_> = block_on(counter(3).with_current_context().collect());
    assert_eq!(items, [("caller", 1), ("caller", 2), ("caller", 3)]);
    assert_eq!(COUNT.get(), 0);
}

#[test]
fn interleaved_wrapped_streams_are_isolated() {
    let mut a = Context::new();
    a.run(|| NAME.set("a"));
    let mut b = Context::new();
    b.run(|| NAME.set("b"));
    let merged = stream::select(counter(3).with_context(a), counter(3).with_context(b));
    let mut items: Vec<_> = block_on(merged.collect());
    items.sort_unstable();
    assert_eq!(
        items,
        [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2), ("b", 3)]
    );
    assert_eq!(COUNT.get(), 0);
}

#[test]
fn a_borrowed_context_keeps_what_the_stream_set() {
    let mut ctx = Context::new();
    let items: Vec<_> = block_on(contextvars::WithContext::new(counter(2), &mut ctx).collect());
    assert_eq!(items, [("nobody", 1), ("nobody", 2)]);
    assert_eq!(ctx.get(&COUNT), Some(2));
}

#[test]
fn unwrapped_streams_share_the_polling_threads_context() {
    let merged = stream::select(counter(2), counter(2));
    let mut counts: Vec<_> = block_on(merged.map(|(_, count)| count).collect());
    counts.sort_unstable();
    assert_eq!(counts, [1, 2, 3, 4]);
    assert_eq!(COUNT.get(), 4);
}
