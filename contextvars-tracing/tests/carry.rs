//! `carry_spans`: the span current at each hand-off is the current span where the work runs,
//! and spans made there are its children.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use contextvars::{Context, FutureExt};
use contextvars_rayon::ParallelIteratorExt;
use http_body_util::BodyExt;
use rayon::prelude::*;
use tracing::Span;
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// The parent each span was created under, by span name.
static PARENTS: Mutex<Option<HashMap<String, Option<String>>>> = Mutex::new(None);

struct RecordParents;

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for RecordParents {
    fn on_new_span(&self, _attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let span = ctx.span(id).unwrap();
        let parent = span.parent().map(|parent| parent.name().to_owned());
        PARENTS
            .lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .insert(span.name().to_owned(), parent);
    }
}

fn setup() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        contextvars_tracing::carry_spans();
        tracing_subscriber::registry().with(RecordParents).init();
    });
}

fn parent_of(name: &str) -> Option<String> {
    PARENTS
        .lock()
        .unwrap()
        .as_ref()?
        .get(name)
        .cloned()
        .flatten()
}

fn current_name() -> Option<&'static str> {
    Span::current().metadata().map(tracing::Metadata::name)
}

/// Where the work runs: the current span's name, and a child span made there.
fn work(child: &'static str) -> Option<&'static str> {
    let current = current_name();
    match child {
        "spawn_child" => drop(tracing::info_span!("spawn_child")),
        "spawn_on_child" => drop(tracing::info_span!("spawn_on_child")),
        "blocking_child" => drop(tracing::info_span!("blocking_child")),
        "local_child" => drop(tracing::info_span!("local_child")),
        "join_set_child" => drop(tracing::info_span!("join_set_child")),
        "executor_child" => drop(tracing::info_span!("executor_child")),
        "hooked_child" => drop(tracing::info_span!("hooked_child")),
        "rayon_child" => drop(tracing::info_span!("rayon_child")),
        "rayon_join_child" => drop(tracing::info_span!("rayon_join_child")),
        "bind_child" => drop(tracing::info_span!("bind_child")),
        "bind_each_child" => drop(tracing::info_span!("bind_each_child")),
        "job_child" => drop(tracing::info_span!("job_child")),
        "body_child" => drop(tracing::info_span!("body_child")),
        other => panic!("no child {other}"),
    }
    current
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

#[track_caller]
fn assert_handed_off(seen: Option<&str>, parent: &str, child: &str) {
    assert_eq!(seen, Some(parent), "current span where {child} runs");
    assert_eq!(
        parent_of(child).as_deref(),
        Some(parent),
        "parent of {child}"
    );
}

#[test]
fn tokio_spawn_helpers() {
    setup();
    let runtime = runtime();
    runtime.block_on(async {
        let parent = tracing::info_span!("spawn_parent");
        let handle = parent.in_scope(|| {
            contextvars::spawn(async {
                tokio::task::yield_now().await;
                work("spawn_child")
            })
        });
        assert_handed_off(handle.await.unwrap(), "spawn_parent", "spawn_child");

        let parent = tracing::info_span!("blocking_parent");
        let handle = parent.in_scope(|| contextvars::spawn_blocking(|| work("blocking_child")));
        assert_handed_off(handle.await.unwrap(), "blocking_parent", "blocking_child");

        let parent = tracing::info_span!("join_set_parent");
        let mut set = contextvars::tokio::JoinSet::new();
        parent.in_scope(|| set.spawn(async { work("join_set_child") }));
        let seen = set.as_tokio_mut().join_next().await.unwrap().unwrap();
        assert_handed_off(seen, "join_set_parent", "join_set_child");

        let parent = tracing::info_span!("executor_parent");
        let (send, receive) = tokio::sync::oneshot::channel();
        parent.in_scope(|| {
            hyper::rt::Executor::execute(
                &contextvars::tokio::ContextExecutor::inherit_at_spawn(),
                async move {
                    send.send(work("executor_child")).unwrap();
                },
            );
        });
        assert_handed_off(receive.await.unwrap(), "executor_parent", "executor_child");

        let parent = tracing::info_span!("local_parent");
        let local = tokio::task::LocalSet::new();
        let seen = local
            .run_until(async {
                let handle =
                    parent.in_scope(|| contextvars::spawn_local(async { work("local_child") }));
                handle.await.unwrap()
            })
            .await;
        assert_handed_off(seen, "local_parent", "local_child");
    });
    let parent = tracing::info_span!("spawn_on_parent");
    let handle = parent.in_scope(|| {
        contextvars::tokio::spawn_on(async { work("spawn_on_child") }, runtime.handle())
    });
    assert_handed_off(
        runtime.block_on(handle).unwrap(),
        "spawn_on_parent",
        "spawn_on_child",
    );
}

#[cfg(tokio_unstable)]
#[test]
fn tasks_under_inherit_on_spawn() {
    setup();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2);
    contextvars::tokio::inherit_on_spawn(&mut builder);
    let runtime = builder.build().unwrap();
    let seen = runtime.block_on(async {
        let parent = tracing::info_span!("hooked_parent");
        // A plain `tokio::spawn`, as a library would write it.
        let handle = parent.in_scope(|| {
            tokio::spawn(async {
                tokio::task::yield_now().await;
                work("hooked_child")
            })
        });
        handle.await.unwrap()
    });
    assert_handed_off(seen, "hooked_parent", "hooked_child");
}

#[test]
fn rayon_items_and_join() {
    setup();
    let parent = tracing::info_span!("rayon_parent");
    let seen: Vec<Option<&str>> = parent.in_scope(|| {
        (0..64)
            .into_par_iter()
            .with_current_context()
            .map(|_| work("rayon_child"))
            .collect()
    });
    for name in seen {
        assert_handed_off(name, "rayon_parent", "rayon_child");
    }
    let parent = tracing::info_span!("rayon_join_parent");
    let (a, b) =
        parent.in_scope(|| contextvars_rayon::join(|| work("rayon_join_child"), current_name));
    assert_handed_off(a, "rayon_join_parent", "rayon_join_child");
    assert_eq!(b, Some("rayon_join_parent"));
}

#[test]
fn bound_closures() {
    setup();
    let parent = tracing::info_span!("bind_parent");
    let job = parent.in_scope(|| contextvars::bind(|| work("bind_child")));
    let seen = std::thread::spawn(job).join().unwrap();
    assert_handed_off(seen, "bind_parent", "bind_child");

    let parent = tracing::info_span!("bind_each_parent");
    let each = parent.in_scope(|| contextvars::bind_each(|| work("bind_each_child")));
    let seen = std::thread::scope(|scope| scope.spawn(&each).join().unwrap());
    assert_handed_off(seen, "bind_each_parent", "bind_each_child");
    assert_eq!(each(), Some("bind_each_parent"));
    assert_eq!(
        current_name(),
        None,
        "nothing is left entered on this thread"
    );
}

#[test]
fn a_job_with_the_context_taken_at_enqueue() {
    setup();
    let (queue, jobs) = std::sync::mpsc::channel::<Context>();
    let worker = std::thread::spawn(move || {
        let mut context = jobs.recv().unwrap();
        let seen = context.run(|| work("job_child"));
        (seen, current_name())
    });
    let parent = tracing::info_span!("job_parent");
    parent.in_scope(|| queue.send(Context::inherited()).unwrap());
    let (seen, after) = worker.join().unwrap();
    assert_handed_off(seen, "job_parent", "job_child");
    assert_eq!(after, None);
}

#[test]
fn a_streaming_body_polled_elsewhere() {
    setup();
    let body = http_body_util::StreamBody::new(futures::stream::poll_fn(|_| {
        let seen = work("body_child");
        std::task::Poll::Ready(Some(Ok::<_, std::convert::Infallible>(
            http_body::Frame::data(bytes::Bytes::from(seen.unwrap_or("none"))),
        )))
    }));
    let parent = tracing::info_span!("body_parent");
    let body = parent
        .in_scope(|| contextvars_tower::context::ContextBody::new(body, Context::inherited()));
    drop(parent);
    // Polled from another thread where no span is current, as a server writes a response.
    let frame = std::thread::spawn(move || {
        futures::executor::block_on(async move {
            let mut body = std::pin::pin!(body);
            body.frame().await.unwrap().unwrap().into_data().unwrap()
        })
    })
    .join()
    .unwrap();
    assert_eq!(&frame[..], b"body_parent");
    assert_eq!(parent_of("body_child").as_deref(), Some("body_parent"));
}

#[test]
fn futures_with_the_current_context() {
    setup();
    let parent = tracing::info_span!("future_parent");
    let future = parent.in_scope(|| async { current_name() }.with_current_context());
    assert_eq!(futures::executor::block_on(future), Some("future_parent"));
}
