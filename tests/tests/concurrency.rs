//! Contexts across threads: a wrapped future sent from worker to worker between polls, a context
//! run on one thread after another, many threads spawning through `contextvars::thread::spawn`
//! at once, many tasks spawned at once on tokio's multi-thread runtime, and many threads making
//! the first use of one variable at the same moment.
//!
//! One piece of the crate has synchronisation of its own: the store of the tokio task hooks
//! (`src/tokio/store.rs`), where each task's context is handed from thread to
//! thread by an atomic state. A loom model explores its transitions (`tests/loom`, run by CI
//! under `--cfg loom`), its unit tests run under Miri, and `tests/tests/tokio_hooks/` runs it on
//! real runtimes. The rest needs no model: a thread's current context is a thread-local;
//! contexts share nodes and values through `triomphe::Arc` and `std::sync::Arc`; the only
//! other shared state is three atomic counters (context ids, variable keys, and each
//! variable's key slot, set once by a compare-exchange), each a single atomic operation whose
//! result is the whole of the data, with no ordering against other memory to get wrong.
//! `OnceLock` makes defaults. The last test below races that compare-exchange.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::task::{self, Poll, Waker};
use std::thread::{self, ThreadId};

use contextvars::{Context, ContextVar, FutureExt, copy_context};

static WHO: ContextVar<String> = ContextVar::with_default("who", || "nobody".to_owned());
static STEP: ContextVar<u32> = ContextVar::new("step");

/// Pending once, then ready.
fn yield_once() -> impl Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

type Task = Pin<Box<dyn Future<Output = Vec<ThreadId>> + Send>>;

#[test]
fn a_wrapped_future_polled_by_one_worker_after_another_keeps_its_context() {
    const WORKERS: usize = 4;
    const POLLS: u32 = 40;
    // Worker `i` owns its thread's context (its own `WHO`) and forwards each task to the next.
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..WORKERS)
        .map(|_| mpsc::channel::<Option<Task>>())
        .unzip();
    let (done_send, done) = mpsc::channel::<Vec<ThreadId>>();
    let senders = Arc::new(senders);
    let workers: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(i, tasks)| {
            let (senders, done_send) = (Arc::clone(&senders), done_send.clone());
            thread::spawn(move || {
                WHO.set(format!("worker {i}"));
                let mine = copy_context();
                let mut cx = task::Context::from_waker(Waker::noop());
                // `None` stops the worker.
                for mut task in tasks.into_iter().map_while(|task| task) {
                    match task.as_mut().poll(&mut cx) {
                        Poll::Ready(threads) => done_send.send(threads).unwrap(),
                        Poll::Pending => senders[(i + 1) % WORKERS].send(Some(task)).unwrap(),
                    }
                    assert!(
                        copy_context().same_bindings(&mine),
                        "worker {i} kept its own"
                    );
                    assert_eq!(WHO.get(), format!("worker {i}"));
                }
            })
        })
        .collect();
    drop(done_send);

    let tasks = 16;
    for t in 0..tasks {
        let mut ctx = Context::new();
        ctx.run(|| WHO.set(format!("task {t}")));
        let task = async move {
            let mut threads = Vec::new();
            for step in 0..POLLS {
                assert_eq!(WHO.get(), format!("task {t}"));
                assert_eq!(STEP.try_get().ok(), step.checked_sub(1));
                STEP.set(step);
                threads.push(thread::current().id());
                yield_once().await;
            }
            threads
        };
        senders[t % WORKERS]
            .send(Some(Box::pin(task.with_context(ctx))))
            .unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..tasks {
        seen.push(done.recv().unwrap());
    }
    for sender in senders.iter() {
        sender.send(None).unwrap();
    }
    for worker in workers {
        worker.join().unwrap();
    }
    for threads in seen {
        let distinct: std::collections::HashSet<_> = threads.iter().collect();
        assert_eq!(distinct.len(), WORKERS, "every task ran on every worker");
    }
}

#[test]
fn a_context_run_on_one_thread_after_another_accumulates_its_changes() {
    let mut ctx = Context::new();
    for i in 0..8u32 {
        ctx = thread::spawn(move || {
            WHO.set(format!("thread {i}"));
            let mut ctx = ctx;
            ctx.run(|| {
                assert_eq!(STEP.try_get().ok(), i.checked_sub(1));
                assert_eq!(WHO.get(), "nobody", "the thread's own value stays outside");
                STEP.set(i);
            });
            assert_eq!(WHO.get(), format!("thread {i}"));
            ctx
        })
        .join()
        .unwrap();
    }
    assert_eq!(ctx.get(&STEP), Some(7));
    assert!(!ctx.contains(&WHO));
}

#[test]
fn many_threads_spawning_at_once_each_inherit_their_own_values() {
    const PARENTS: usize = 32;
    const CHILDREN: usize = 4;
    let barrier = Arc::new(Barrier::new(PARENTS));
    let parents: Vec<_> = (0..PARENTS)
        .map(|p| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                WHO.set(format!("parent {p}"));
                barrier.wait();
                let children: Vec<_> = (0..CHILDREN)
                    .map(|c| {
                        let child = contextvars::thread::spawn(move || {
                            let inherited = WHO.get();
                            WHO.set(format!("child {p}.{c}"));
                            let grandchild =
                                contextvars::thread::spawn(|| WHO.get()).join().unwrap();
                            (inherited, grandchild)
                        });
                        STEP.set(u32::try_from(c).unwrap());
                        child
                    })
                    .collect();
                for (c, child) in children.into_iter().enumerate() {
                    let (inherited, grandchild) = child.join().unwrap();
                    assert_eq!(inherited, format!("parent {p}"));
                    assert_eq!(grandchild, format!("child {p}.{c}"));
                }
                assert_eq!(WHO.get(), format!("parent {p}"), "nothing flowed back");
            })
        })
        .collect();
    for parent in parents {
        parent.join().unwrap();
    }
}

#[test]
fn many_tasks_spawned_at_once_on_a_multi_thread_runtime_stay_apart() {
    const TASKS: usize = 5_000;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    let crosstalk = runtime.block_on(async {
        let mut handles = Vec::with_capacity(TASKS);
        for t in 0..TASKS {
            let token = WHO.set(format!("task {t}"));
            handles.push(contextvars::spawn(async move {
                let mut wrong = 0;
                for step in 0..4 {
                    wrong += usize::from(WHO.get() != format!("task {t}"));
                    STEP.set(step);
                    tokio::task::yield_now().await;
                    wrong += usize::from(STEP.get() != step);
                }
                let sub = contextvars::spawn(async move {
                    tokio::task::yield_now().await;
                    (WHO.get(), STEP.get())
                })
                .await
                .unwrap();
                wrong += usize::from(sub != (format!("task {t}"), 3));
                wrong
            }));
            WHO.reset(token).unwrap();
        }
        let mut crosstalk = 0;
        for handle in handles {
            crosstalk += handle.await.unwrap();
        }
        assert_eq!(WHO.get(), "nobody");
        assert!(!STEP.is_set());
        crosstalk
    });
    assert_eq!(crosstalk, 0);
}

#[test]
fn threads_racing_to_first_use_a_variable_agree_on_it() {
    const THREADS: usize = 16;
    for round in 0..20 {
        let var = Arc::new(ContextVar::<usize>::with_default("raced", || usize::MAX));
        let barrier = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|i| {
                let (var, barrier) = (Arc::clone(&var), Arc::clone(&barrier));
                thread::spawn(move || {
                    barrier.wait();
                    let token = var.set(i);
                    let ctx = copy_context();
                    assert_eq!((var.get(), ctx.get(&var)), (i, Some(i)), "round {round}");
                    var.reset(token).unwrap();
                    assert_eq!(var.get(), usize::MAX);
                    ctx
                })
            })
            .collect();
        for (i, thread) in threads.into_iter().enumerate() {
            let ctx = thread.join().unwrap();
            assert_eq!(ctx.get(&*var), Some(i));
        }
    }
}
