//! The tokio spawners of `contextvars::tokio`: `JoinSet`, `spawn_on` and `ContextExecutor`
//! start every task in a copy of the caller's context, and nothing a task sets flows back or
//! reaches a sibling.

use contextvars::tokio::{ContextExecutor, JoinSet, spawn_on};
use contextvars::{Context, ContextVar};
use hyper::rt::Executor;
use tokio::sync::oneshot;

static REQUEST: ContextVar<&'static str> = ContextVar::with_default("request", || "none");
static SESSION: ContextVar<&'static str> =
    ContextVar::with_default("session", || "no session").inherit(false);

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap()
}

#[test]
fn join_set_tasks_start_in_the_caller_s_context_and_keep_their_changes() {
    let runtime = multi_thread();
    let handle = runtime.handle().clone();
    runtime.block_on(async {
        let _request = REQUEST.set_guard("r-1");
        let _session = SESSION.set_guard("s-1");
        let mut set = JoinSet::new();
        for n in 0..32 {
            set.spawn(async move {
                let seen = (REQUEST.get(), SESSION.get());
                REQUEST.set(if n % 2 == 0 { "even" } else { "odd" });
                tokio::task::yield_now().await;
                (
                    seen,
                    REQUEST.get() == if n % 2 == 0 { "even" } else { "odd" },
                )
            });
        }
        set.spawn_on(async { ((REQUEST.get(), SESSION.get()), true) }, &handle);
        set.spawn_blocking(|| ((REQUEST.get(), SESSION.get()), true));
        set.extend([async { ((REQUEST.get(), SESSION.get()), true) }]);
        assert_eq!(set.len(), 35);
        for (seen, kept) in set.join_all().await {
            assert_eq!(seen, ("r-1", "no session"));
            assert!(kept);
        }
        assert_eq!(REQUEST.get(), "r-1");

        let collected: JoinSet<_> = (0..4).map(|_| async { REQUEST.get() }).collect();
        assert_eq!(collected.join_all().await, ["r-1"; 4]);
    });
}

#[test]
fn spawn_on_carries_the_caller_s_context_from_outside_the_runtime() {
    let runtime = multi_thread();
    let _request = REQUEST.set_guard("from a plain thread");
    let task = spawn_on(
        async {
            REQUEST.set("changed in the task");
            REQUEST.get()
        },
        runtime.handle(),
    );
    assert_eq!(runtime.block_on(task).unwrap(), "changed in the task");
    assert_eq!(REQUEST.get(), "from a plain thread");
}

#[test]
fn context_executor_inheriting_at_spawn_runs_each_task_in_the_context_that_handed_it_over() {
    let runtime = multi_thread();
    runtime.block_on(async {
        let executor = ContextExecutor::inherit_at_spawn();
        let mut answers = Vec::new();
        for request in ["a", "b", "c"] {
            let (sender, receiver) = oneshot::channel();
            let mut context = Context::new();
            context.run(|| {
                REQUEST.set(request);
                executor.execute(async move {
                    let seen = REQUEST.get();
                    REQUEST.set("set by the task");
                    sender.send(seen).unwrap();
                });
            });
            answers.push(receiver);
            assert_eq!(context.get(&REQUEST), Some(request));
        }
        let mut seen = Vec::new();
        for answer in answers {
            seen.push(answer.await.unwrap());
        }
        assert_eq!(seen, ["a", "b", "c"]);
    });
}

#[test]
fn context_executor_with_a_base_ignores_the_spawner_s_values() {
    let runtime = multi_thread();
    runtime.block_on(async {
        let mut base = Context::new();
        base.run(|| REQUEST.set("server"));
        let executor = ContextExecutor::with_base(base);
        let _request = REQUEST.set_guard("a request that opened the connection");
        let (sender, receiver) = oneshot::channel();
        executor.execute(async move { sender.send(REQUEST.get()).unwrap() });
        assert_eq!(receiver.await.unwrap(), "server");
        assert!(format!("{executor:?}").contains("request"));
    });
}

#[test]
fn context_executor_new_takes_its_base_when_built_as_context_layer_does() {
    let runtime = multi_thread();
    runtime.block_on(async {
        let executor = REQUEST.scope("at construction", ContextExecutor::new);
        let _request = REQUEST.set_guard("a request that opened the connection");
        let (sender, receiver) = oneshot::channel();
        executor.execute(async move { sender.send(REQUEST.get()).unwrap() });
        assert_eq!(receiver.await.unwrap(), "at construction");
    });
}
