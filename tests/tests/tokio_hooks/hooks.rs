//! `contextvars::tokio::inherit_on_spawn`: every plain `tokio::spawn` task starts in a copy of
//! its spawner's context and keeps its own across polls, on both runtime flavours; panics,
//! aborts, shutdown, `block_in_place` and nested runtimes leave every context as it was.
//!
//! Needs `--cfg tokio_unstable` (`.ci/run` builds it so); without it this file is empty.
#![cfg(tokio_unstable)]

use contextvars_tests::{in_child, plain_spawn, quiet_panics};

use std::sync::Arc;
use std::time::Duration;

use contextvars::tokio::{inherit_on_spawn, leaked_writes};
use contextvars::{ContextVar, FutureExt};
use plain_spawn::{parent_after_plain_child, requests_with_plain_tasks};
use tokio::runtime::{Builder, Runtime};

static USER: ContextVar<&'static str> = ContextVar::with_default("user", || "nobody");
static HELD: ContextVar<Arc<()>> = ContextVar::new("held");
static TASK_NAME: ContextVar<String> = ContextVar::new("task name");

fn hooked(mut builder: Builder) -> Runtime {
    inherit_on_spawn(&mut builder).enable_all().build().unwrap()
}

fn current_thread() -> Runtime {
    hooked(Builder::new_current_thread())
}

fn multi_thread() -> Runtime {
    let mut builder = Builder::new_multi_thread();
    builder.worker_threads(4);
    hooked(builder)
}

#[test]
fn plain_tasks_of_later_requests_no_longer_see_what_an_earlier_one_left() {
    for runtime in [current_thread(), multi_thread()] {
        let before = leaked_writes();
        let seen = runtime.block_on(requests_with_plain_tasks(50));
        assert!(seen.iter().all(|seen| seen == "nothing"), "{seen:?}");
        assert_eq!(leaked_writes(), before, "no write was left on a worker");
    }
}

#[test]
fn a_plain_child_no_longer_overwrites_its_parent_s_value() {
    for runtime in [current_thread(), multi_thread()] {
        assert_eq!(runtime.block_on(parent_after_plain_child()), "parent");
    }
}

#[test]
fn plain_tasks_inherit_the_spawner_s_value_and_keep_their_own_across_awaits() {
    let runtime = multi_thread();
    runtime.block_on(async {
        let _guard = USER.set_guard("spawner");
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                tokio::spawn(async move {
                    let inherited = USER.get();
                    let name = format!("task-{n}");
                    TASK_NAME.set(name.clone());
                    for _ in 0..5 {
                        tokio::task::yield_now().await;
                        assert_eq!(TASK_NAME.get(), name);
                    }
                    inherited
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), "spawner");
        }
        assert_eq!(USER.get(), "spawner");
    });
}

#[test]
fn a_task_that_outlives_its_spawner_keeps_the_spawner_s_values() {
    let runtime = multi_thread();
    let seen = runtime.block_on(async {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            USER.set("short-lived spawner");
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                sender.send(USER.get()).unwrap();
            });
        })
        .await
        .unwrap();
        receiver.await.unwrap()
    });
    assert_eq!(seen, "short-lived spawner");
}

#[test]
fn a_panicking_task_leaves_every_context_as_it_was() {
    let held = Arc::new(());
    for runtime in [current_thread(), multi_thread()] {
        runtime.block_on(async {
            let _guard = USER.set_guard("spawner");
            let panicked = {
                let held = Arc::clone(&held);
                tokio::spawn(async move {
                    USER.set("panicking task");
                    HELD.set(held);
                    tokio::task::yield_now().await;
                    panic!("the task fails");
                })
            };
            assert!(panicked.await.unwrap_err().is_panic());
            assert_eq!(USER.get(), "spawner");
            assert!(!HELD.is_set());
            // Every worker is back in its own context: new tasks see only what they inherit.
            let later: Vec<_> = (0..16)
                .map(|_| tokio::spawn(async { (USER.get(), HELD.is_set()) }))
                .collect();
            for task in later {
                assert_eq!(task.await.unwrap(), ("spawner", false));
            }
        });
        drop(runtime);
        // The task's context, with its value, was dropped with the task.
        assert_eq!(Arc::strong_count(&held), 1);
    }
    // The thread that ran `block_on` is back in its own, untouched context.
    assert_eq!(USER.get(), "nobody");
}

#[test]
fn aborted_and_unpolled_tasks_drop_their_context() {
    let held = Arc::new(());
    let runtime = multi_thread();
    runtime.block_on(async {
        let _guard = HELD.set_guard(Arc::clone(&held));
        let sleeping = tokio::spawn(tokio::time::sleep(Duration::from_secs(60)));
        tokio::task::yield_now().await;
        sleeping.abort();
        assert!(sleeping.await.unwrap_err().is_cancelled());
        // Left to the shutdown below, some of them never polled.
        for _ in 0..8 {
            tokio::spawn(tokio::time::sleep(Duration::from_secs(60)));
        }
    });
    drop(runtime);
    assert_eq!(Arc::strong_count(&held), 1, "every task's copy was dropped");
}

#[test]
fn block_in_place_runs_in_the_task_s_context_and_nested_runtimes_nest() {
    let runtime = multi_thread();
    let seen = runtime.block_on(async {
        tokio::spawn(async {
            USER.set("outer task");
            let in_place = tokio::task::block_in_place(|| {
                let inner = current_thread();
                let from_inner = inner.block_on(async {
                    tokio::spawn(async {
                        let inherited = USER.get();
                        USER.set("inner task");
                        inherited
                    })
                    .await
                    .unwrap()
                });
                (USER.get(), from_inner)
            });
            tokio::task::yield_now().await;
            (in_place, USER.get())
        })
        .await
        .unwrap()
    });
    assert_eq!(seen, (("outer task", "outer task"), "outer task"));
}

#[test]
fn tasks_that_libraries_spawn_run_in_their_spawner_s_context() {
    let runtime = multi_thread();
    runtime.block_on(
        async {
            USER.set("request");
            // tokio's own JoinSet, as a library would use it.
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..8 {
                set.spawn(async { USER.get() });
            }
            for seen in set.join_all().await {
                assert_eq!(seen, "request");
            }
        }
        .with_current_context(),
    );
    assert_eq!(USER.get(), "nobody");
}

#[test]
fn tasks_keep_no_context_once_they_are_done() {
    let held = Arc::new(());
    let runtime = multi_thread();
    runtime.block_on(async {
        let _guard = HELD.set_guard(Arc::clone(&held));
        let tasks: Vec<_> = (0..100)
            .map(|_| tokio::spawn(async { HELD.is_set() }))
            .collect();
        for task in tasks {
            assert!(task.await.unwrap());
        }
    });
    drop(runtime);
    assert_eq!(Arc::strong_count(&held), 1, "no task kept its copy");
}

/// A value whose `Drop` always panics.
struct AlwaysBoom;

impl Drop for AlwaysBoom {
    fn drop(&mut self) {
        panic!("boom on drop");
    }
}

static BOOM_1: ContextVar<AlwaysBoom> = ContextVar::new("boom 1");
static BOOM_2: ContextVar<AlwaysBoom> = ContextVar::new("boom 2");

#[test]
#[cfg_attr(miri, ignore = "runs a child process")]
fn a_panicking_drop_of_a_task_s_context_costs_no_worker_and_no_process() {
    in_child::in_child(
        "a_panicking_drop_of_a_task_s_context_costs_no_worker_and_no_process",
        || {
            quiet_panics::quiet();
            for runtime in [current_thread(), multi_thread()] {
                runtime.block_on(async {
                    // Dropped when the task ends, after its output went to its handle.
                    let done = tokio::spawn(async {
                        BOOM_1.set(AlwaysBoom);
                        BOOM_2.set(AlwaysBoom);
                        tokio::task::yield_now().await;
                        1
                    });
                    assert_eq!(done.await.unwrap(), 1);
                    // Dropped by an abort, between polls.
                    let aborted = tokio::spawn(async {
                        BOOM_1.set(AlwaysBoom);
                        std::future::pending::<()>().await;
                    });
                    tokio::task::yield_now().await;
                    aborted.abort();
                    assert!(aborted.await.unwrap_err().is_cancelled());
                    // The runtime, its workers and the spawner's context carry on.
                    let _user = USER.set("after");
                    let later = (0..8).map(|n| tokio::spawn(async move { (n, USER.get()) }));
                    for (n, task) in later.enumerate() {
                        assert_eq!(task.await.unwrap(), (n, "after"));
                    }
                });
                // Dropped at shutdown, unpolled.
                runtime.spawn(async { BOOM_1.set(AlwaysBoom) });
                drop(runtime);
            }
        },
    );
}

#[test]
fn a_context_executor_with_a_base_spawns_tasks_that_keep_nothing_of_the_spawner() {
    for runtime in [current_thread(), multi_thread()] {
        runtime.block_on(async {
            let executor =
                contextvars::tokio::ContextExecutor::with_base(contextvars::Context::new());
            let held = Arc::new(());
            let (release, released) = tokio::sync::oneshot::channel::<()>();
            let mut request = contextvars::Context::new();
            request.run(|| {
                HELD.set(Arc::clone(&held));
                // A pooled connection's task: it outlives the request that opened it.
                hyper::rt::Executor::execute(&executor, async move {
                    let _ = released.await;
                });
            });
            drop(request);
            tokio::task::yield_now().await;
            assert_eq!(
                Arc::strong_count(&held),
                1,
                "the task holds nothing of the request"
            );
            release.send(()).unwrap();
        });
    }
}
