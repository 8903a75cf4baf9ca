//! Tasks spawned through `contextvars::spawn` and friends on tokio: each runs in its own copy of
//! the spawner's context, on a multi-thread runtime (tasks migrate between workers) and on a
//! current-thread one (tasks share one thread).

use std::collections::HashSet;
use std::time::Duration;

use contextvars::{Context, ContextVar, FutureExt, ResetErrorKind, copy_context, join_all};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::oneshot;
use tokio::task::yield_now;

static TICKET: ContextVar<&'static str> = ContextVar::with_default("ticket", || "no ticket");
static TASK_ID: ContextVar<u64> = ContextVar::new("task_id");
static USER: ContextVar<&'static str> = ContextVar::with_default("user", || "nobody");
static TRANSACTION: ContextVar<u32> = ContextVar::new("transaction").inherit(false);
static SESSION: ContextVar<&'static str> =
    ContextVar::with_default("session", || "no session").inherit(false);

/// Defines `$name::multi_thread` (four workers) and `$name::current_thread`, both running the
/// same async body.
macro_rules! on_both_runtimes {
    ($name:ident, $body:block) => {
        mod $name {
            #[allow(clippy::wildcard_imports, reason = "the body is written at the top level")]
            use super::*;

            async fn scenario() $body

            #[test]
            fn multi_thread() {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(4)
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(scenario());
            }

            #[test]
            fn current_thread() {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(scenario());
            }
        }
    };
}

/// A ticket handler: set a ticket, sleep, read it back, reset, read the default.
async fn handle_ticket(ticket: &'static str, sleep_ms: u64) -> [&'static str; 2] {
    let token = TICKET.set(ticket);
    tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
    let after_sleep = TICKET.get();
    TICKET
        .reset(token)
        .expect("the task's own token resets after the await");
    [after_sleep, TICKET.get()]
}

/// What unwrapped tasks see on the workers: their threads' own contexts, which no task may have
/// changed. The multi-thread runtime's workers start empty; the current-thread runtime's only
/// worker is the test's own thread.
async fn assert_worker_contexts_are_untouched() {
    let expected = match Handle::current().runtime_flavor() {
        RuntimeFlavor::CurrentThread => copy_context(),
        _ => Context::new(),
    };
    let probes: Vec<_> = (0..64)
        .map(|_| {
            let expected = expected.clone();
            tokio::spawn(async move { copy_context().same_bindings(&expected) })
        })
        .collect();
    for probe in probes {
        assert!(probe.await.unwrap(), "a value leaked into a worker thread");
    }
}

on_both_runtimes!(spawned_tasks_keep_their_own_ticket, {
    let a = contextvars::spawn(handle_ticket("TICKET-A", 30));
    let b = contextvars::spawn(handle_ticket("TICKET-B", 10));
    assert_eq!(TICKET.get(), "no ticket");
    assert_eq!(a.await.unwrap(), ["TICKET-A", "no ticket"]);
    assert_eq!(b.await.unwrap(), ["TICKET-B", "no ticket"]);
    assert_eq!(TICKET.get(), "no ticket");
    assert!(copy_context().is_empty());
    assert_worker_contexts_are_untouched().await;
});

on_both_runtimes!(wrapped_futures_joined_in_one_task_keep_their_own_ticket, {
    let _caller = TICKET.set("CALLER");
    let (a, b) = tokio::join!(
        handle_ticket("TICKET-A", 30).with_current_context(),
        handle_ticket("TICKET-B", 10).with_current_context(),
    );
    assert_eq!(a, ["TICKET-A", "CALLER"]);
    assert_eq!(b, ["TICKET-B", "CALLER"]);
    let both = join_all([handle_ticket("TICKET-A", 20), handle_ticket("TICKET-B", 5)]).await;
    assert_eq!(both, [["TICKET-A", "CALLER"], ["TICKET-B", "CALLER"]]);
    assert_eq!(TICKET.get(), "CALLER");
});

on_both_runtimes!(
    ten_thousand_tasks_each_read_their_own_value_while_migrating,
    {
        const TASKS: u64 = 10_000;
        const YIELDS: usize = 20;
        let tasks: Vec<_> = (0..TASKS)
            .map(|id| {
                contextvars::spawn(async move {
                    TASK_ID.set(id);
                    let mut threads = HashSet::new();
                    for _ in 0..YIELDS {
                        threads.insert(std::thread::current().id());
                        yield_now().await;
                        assert_eq!(TASK_ID.get(), id, "task {id} read another task's value");
                    }
                    threads.len()
                })
            })
            .collect();
        let mut migrated = 0;
        for task in tasks {
            if task.await.unwrap() > 1 {
                migrated += 1;
            }
        }
        if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
            assert!(migrated > 0, "no task ever resumed on another worker");
        }
        assert!(!TASK_ID.is_set());
        assert!(copy_context().is_empty());
        assert_worker_contexts_are_untouched().await;
    }
);

on_both_runtimes!(spawn_inherits_a_copy_and_nothing_flows_back, {
    let _user = USER.set("dina");
    let _transaction = TRANSACTION.set(7);
    let _session = SESSION.set("s-1");
    let (go, wait) = oneshot::channel::<()>();
    let child = contextvars::spawn(async move {
        wait.await.unwrap();
        let inherited = (USER.get(), TRANSACTION.try_get().ok(), SESSION.get());
        USER.set("harry");
        TRANSACTION.set(9);
        inherited
    });
    // A change after the spawn is not in the child's copy.
    let _later = USER.set("steve");
    go.send(()).unwrap();
    assert_eq!(child.await.unwrap(), ("dina", None, "no session"));
    assert_eq!(
        (USER.get(), TRANSACTION.get(), SESSION.get()),
        ("steve", 7, "s-1")
    );
});

on_both_runtimes!(non_inherited_vars_start_from_default_in_every_child, {
    fn seen() -> (&'static str, Option<u32>, &'static str) {
        (USER.get(), TRANSACTION.try_get().ok(), SESSION.get())
    }
    let _user = USER.set("dina");
    let _transaction = TRANSACTION.set(7);
    let _session = SESSION.set("s-1");
    let child = ("dina", None, "no session");
    let exact = ("dina", Some(7), "s-1");

    assert_eq!(contextvars::spawn(async { seen() }).await.unwrap(), child);
    assert_eq!(contextvars::spawn_blocking(seen).await.unwrap(), child);
    assert_eq!(contextvars::thread::spawn(seen).join().unwrap(), child);
    assert_eq!(async { seen() }.with_current_context().await, child);
    assert_eq!(join_all([async { seen() }]).await, [child]);

    assert_eq!(async { seen() }.with_context(copy_context()).await, exact);
    assert_eq!(copy_context().run(seen), exact);
    let mut ctx = copy_context();
    assert_eq!(ctx.run_future(async { seen() }).await, exact);
});

on_both_runtimes!(spawn_blocking_and_threads_see_the_callers_values, {
    let _user = USER.set("dina");
    let blocking = contextvars::spawn_blocking(|| {
        let seen = USER.get();
        USER.set("changed in the pool");
        seen
    });
    assert_eq!(blocking.await.unwrap(), "dina");
    let thread = contextvars::thread::spawn(|| {
        let seen = USER.get();
        USER.set("changed in the thread");
        seen
    });
    assert_eq!(thread.join().unwrap(), "dina");
    assert_eq!(USER.get(), "dina");
    // tokio's and std's own functions give no context: the pool thread's, or an empty one.
    assert_eq!(std::thread::spawn(|| USER.get()).join().unwrap(), "nobody");
});

on_both_runtimes!(spawn_local_runs_in_a_copy_on_a_local_set, {
    let _user = USER.set("dina");
    let local = tokio::task::LocalSet::new();
    let seen = local
        .run_until(async {
            let task = contextvars::spawn_local(async {
                // A `!Send` guard held across an await is fine on a `LocalSet`.
                let _guard = TICKET.set_guard("LOCAL");
                let inherited = USER.get();
                yield_now().await;
                (inherited, TICKET.get())
            });
            task.await.unwrap()
        })
        .await;
    assert_eq!(seen, ("dina", "LOCAL"));
    assert_eq!(TICKET.get(), "no ticket");
});

on_both_runtimes!(
    token_made_before_await_resets_after_it_wherever_the_task_resumed,
    {
        let _user = USER.set("caller");
        let task = contextvars::spawn(async {
            let token = USER.set("task");
            for _ in 0..50 {
                yield_now().await;
                tokio::time::sleep(Duration::from_micros(10)).await;
            }
            USER.reset(token).map_err(|error| error.kind())?;
            Ok::<_, ResetErrorKind>(USER.get())
        });
        assert_eq!(task.await.unwrap(), Ok("caller"));
    }
);

on_both_runtimes!(
    token_reset_in_another_task_is_wrong_context_and_changes_nothing,
    {
        let (send_token, receive_token) = oneshot::channel();
        let (send_back, receive_back) = oneshot::channel();
        let owner = contextvars::spawn(async move {
            let token = USER.set("owner");
            send_token.send(token).unwrap();
            let token = receive_back.await.unwrap();
            let still = USER.get();
            USER.reset(token).unwrap();
            (still, USER.get())
        });
        let thief = contextvars::spawn(async move {
            let token = receive_token.await.unwrap();
            USER.set("thief");
            let error = USER.reset(token).unwrap_err();
            let kind = error.kind();
            send_back.send(error.into_token()).unwrap();
            (kind, USER.get())
        });
        assert_eq!(
            thief.await.unwrap(),
            (ResetErrorKind::WrongContext, "thief")
        );
        assert_eq!(owner.await.unwrap(), ("owner", "nobody"));
    }
);

on_both_runtimes!(panic_inside_a_task_leaves_the_worker_context_as_it_was, {
    let _user = USER.set("caller");
    let task = contextvars::spawn(async {
        USER.set("doomed");
        yield_now().await;
        panic!("boom inside a task");
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(USER.get(), "caller");
    assert_worker_contexts_are_untouched().await;
    let mut ctx = Context::new();
    let survived = contextvars::spawn(async move { ctx.run(|| USER.get()) });
    assert_eq!(survived.await.unwrap(), "nobody");
});
