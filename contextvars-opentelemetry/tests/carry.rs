//! `carry_context`: `opentelemetry::Context::current()` where handed-off work runs is the one
//! current at the hand-off.

use contextvars::{Context, FutureExt};
use opentelemetry::Context as OtelContext;

#[derive(Debug, PartialEq, Clone, Copy)]
struct Request(u32);

fn current_request() -> Option<u32> {
    OtelContext::map_current(|cx| cx.get::<Request>().map(|r| r.0))
}

fn attached<R>(request: u32, f: impl FnOnce() -> R) -> R {
    let _guard = OtelContext::current_with_value(Request(request)).attach();
    f()
}

#[test]
fn every_hand_off_runs_in_the_context_attached_there() {
    contextvars_opentelemetry::carry_context();

    let job = attached(1, || contextvars::bind(current_request));
    assert_eq!(std::thread::spawn(job).join().unwrap(), Some(1));

    let each = attached(2, || contextvars::bind_each(current_request));
    assert_eq!(
        std::thread::scope(|s| s.spawn(&each).join().unwrap()),
        Some(2)
    );

    let (queue, jobs) = std::sync::mpsc::channel::<Context>();
    attached(3, || queue.send(Context::inherited()).unwrap());
    let seen = std::thread::spawn(move || jobs.recv().unwrap().run(current_request));
    assert_eq!(seen.join().unwrap(), Some(3));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let seen = runtime.block_on(async {
        let spawned = attached(4, || {
            contextvars::spawn(async {
                tokio::task::yield_now().await;
                current_request()
            })
        });
        let blocking = attached(5, || contextvars::spawn_blocking(current_request));
        let future = attached(6, || async { current_request() }.with_current_context());
        (
            spawned.await.unwrap(),
            blocking.await.unwrap(),
            future.await,
            current_request(),
        )
    });
    assert_eq!(seen, (Some(4), Some(5), Some(6), None));
    assert_eq!(
        current_request(),
        None,
        "nothing is left attached on this thread"
    );
}

#[test]
fn an_explicit_context_for_a_job() {
    contextvars_opentelemetry::carry_context();
    let mut job = Context::new();
    assert!(
        job.set_companion_state::<contextvars_opentelemetry::CurrentContext>(Some(
            OtelContext::new().with_value(Request(9))
        ))
    );
    assert_eq!(
        std::thread::spawn(move || job.run(current_request))
            .join()
            .unwrap(),
        Some(9)
    );
}
