//! Nothing leaks: a value is dropped when the last context, token or task holding it goes, after
//! tokio tasks finish, are aborted or panic; and a million contexts and run-time variables made
//! and dropped leave the allocator's live bytes where they were.
//!
//! Live bytes are counted per thread by a counting allocator, so the tests of this binary, which
//! run in parallel, do not disturb each other's figures. Tasks on tokio's workers are
//! checked with drop counters instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use contextvars::{Context, ContextVar, FutureExt, copy_context};

use contextvars_tests::counting_alloc::{Counting, live_bytes};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Counts its drops in a shared counter.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

fn count(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

static HELD: ContextVar<Counted> = ContextVar::new("held");
static LOCAL: ContextVar<Counted> = ContextVar::new("local").inherit(false);

#[test]
fn a_value_lives_exactly_as_long_as_its_last_holder() {
    let drops = counter();
    let mut ctx = Context::new();
    ctx.run(|| {
        HELD.set(Counted(drops.clone()));
    });
    // Holders of one stored value: a snapshot, a token's old value, a wrapped future's context,
    // a thread's context.
    let snapshot = ctx.clone();
    let future = async {}.with_context(ctx.clone());
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let thread = contextvars::thread::spawn_with_context(ctx.clone(), move || {
        wait.recv().unwrap();
        HELD.with(|held| held.is_some())
    });
    let token = ctx.run(|| HELD.set(Counted(counter())));
    drop(ctx);
    drop(snapshot);
    drop(future);
    assert_eq!(count(&drops), 0, "the token and the thread still hold it");
    drop(token);
    assert_eq!(count(&drops), 0, "the thread still holds it");
    go.send(()).unwrap();
    assert!(thread.join().unwrap());
    assert_eq!(count(&drops), 1);
}

#[test]
fn overwritten_and_reset_values_are_dropped_once_unreferenced() {
    static V: ContextVar<Arc<()>> = ContextVar::new("v");
    let first = Arc::new(());
    let second = Arc::new(());
    Context::new().run(|| {
        let token = V.set(first.clone());
        let held = copy_context();
        let token2 = V.set(second.clone());
        // One stored value, shared by the snapshot and token2 (values are shared, not cloned).
        assert_eq!(Arc::strong_count(&first), 2);
        drop(held);
        V.reset(token2).unwrap();
        assert_eq!(
            Arc::strong_count(&second),
            1,
            "reset dropped the overwritten value"
        );
        V.reset(token).unwrap();
        assert_eq!(Arc::strong_count(&first), 1);
    });
}

#[test]
fn a_thread_context_drops_its_values_when_the_thread_ends() {
    static V: ContextVar<Counted> = ContextVar::new("v");
    let drops = counter();
    let counter = drops.clone();
    std::thread::spawn(move || {
        V.set(Counted(counter));
    })
    .join()
    .unwrap();
    assert_eq!(count(&drops), 1);
}

#[test]
fn values_set_in_a_finished_future_go_with_it() {
    let drops = counter();
    let parent = counter();
    let task = async {
        HELD.set(Counted(drops.clone()));
        LOCAL.set(Counted(drops.clone()));
    };
    Context::new().run(|| {
        HELD.set(Counted(parent.clone()));
        futures::executor::block_on(task.with_current_context());
        assert_eq!(count(&drops), 2, "dropped with the finished task's context");
        assert!(HELD.is_set());
    });
    assert_eq!(count(&parent), 1);
}

/// The tasks' panics are expected; keep them out of the test output.
fn quiet_task_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"a task panics") {
            default(info);
        }
    }));
}

fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn values_of_finished_aborted_and_panicked_tasks_are_dropped() {
    const TASKS: usize = 200;
    let finished = counter();
    let aborted = counter();
    let panicked = counter();
    let inherited = counter();
    quiet_task_panics();
    let mut request = Context::new();
    let runtime = multi_thread_runtime();
    request.run(|| {
        runtime.block_on(async {
            let token = HELD.set(Counted(inherited.clone()));
            LOCAL.set(Counted(inherited.clone()));

            let mut handles = Vec::new();
            for _ in 0..TASKS {
                let drops = finished.clone();
                handles.push(contextvars::spawn(async move {
                    assert!(HELD.is_set() && !LOCAL.is_set());
                    HELD.set(Counted(drops.clone()));
                    tokio::task::yield_now().await;
                    LOCAL.set(Counted(drops));
                }));
            }
            for handle in handles {
                handle.await.unwrap();
            }

            let (started, mut all_started) = tokio::sync::mpsc::channel::<()>(TASKS);
            let mut handles = Vec::new();
            for _ in 0..TASKS {
                let (drops, started) = (aborted.clone(), started.clone());
                handles.push(contextvars::spawn(async move {
                    HELD.set(Counted(drops.clone()));
                    LOCAL.set(Counted(drops));
                    started.send(()).await.unwrap();
                    std::future::pending::<()>().await;
                }));
            }
            for _ in 0..TASKS {
                all_started.recv().await.unwrap();
            }
            for handle in &handles {
                handle.abort();
            }
            for handle in handles {
                assert!(handle.await.unwrap_err().is_cancelled());
            }

            let mut handles = Vec::new();
            for i in 0..TASKS {
                let drops = panicked.clone();
                handles.push(contextvars::spawn(async move {
                    HELD.set(Counted(drops.clone()));
                    tokio::time::sleep(Duration::from_micros(i as u64 % 50)).await;
                    LOCAL.set(Counted(drops));
                    panic!("a task panics");
                }));
            }
            for handle in handles {
                assert!(handle.await.unwrap_err().is_panic());
            }

            let blocking = finished.clone();
            contextvars::spawn_blocking(move || HELD.set(Counted(blocking)))
                .await
                .map(drop)
                .unwrap();

            assert_eq!(count(&inherited), 0, "the parent's values are still bound");
            HELD.reset(token).unwrap();
            assert_eq!(count(&inherited), 1);
        });
    });
    drop(runtime);
    assert_eq!(count(&finished), 2 * TASKS + 1);
    assert_eq!(count(&aborted), 2 * TASKS);
    assert_eq!(count(&panicked), 2 * TASKS);
    assert_eq!(count(&inherited), 1, "`LOCAL` is still bound in `request`");
    drop(request);
    assert_eq!(count(&inherited), 2);
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "slow in a debug build: .ci/run runs it in release mode"
)]
fn a_million_contexts_and_runtime_variables_keep_live_bytes_bounded() {
    static NAME: ContextVar<String> = ContextVar::new("name");
    let rounds: u64 = if cfg!(miri) { 1_000 } else { 1_000_000 };
    let drops = counter();
    let cycle = |i: u64| {
        let var = ContextVar::new("temporary");
        let mut ctx = Context::new();
        ctx.run(|| {
            var.set(i);
            NAME.set(format!("round {i}"));
            HELD.set(Counted(drops.clone()));
            let mut child = copy_context();
            child.run(|| {
                let token = var.set(i + 1);
                var.reset(token).unwrap();
            });
            assert_eq!(var.get(), i);
        });
        assert_eq!(ctx.get(&var), Some(i));
        // The variable goes before its context here, the context before the variable in the
        // next round's order below: both orders must free everything.
        if i % 2 == 0 {
            drop(var);
            drop(ctx);
        } else {
            drop(ctx);
            drop(var);
        }
    };
    Context::new().run(|| {
        for i in 0..rounds / 100 {
            cycle(i);
        }
        let warm = live_bytes();
        for i in 0..rounds {
            cycle(i);
        }
        let grown = live_bytes() - warm;
        println!(
            "soak: {rounds} contexts and variables, live bytes {warm} before, {} after",
            warm + grown
        );
        assert!(
            grown <= 1024,
            "live bytes grew by {grown} over {rounds} contexts and variables"
        );
        assert!(copy_context().is_empty());
    });
    assert_eq!(
        count(&drops),
        usize::try_from(rounds + rounds / 100).unwrap()
    );
}

#[test]
fn contexts_made_and_dropped_return_every_byte() {
    static V: ContextVar<String> = ContextVar::new("v");
    let vars: Vec<ContextVar<u64>> = (0..64).map(|_| ContextVar::new("x")).collect();
    // The first binding of a variable name is where its record is made, once per process.
    Context::new().run(|| {
        V.set(String::new());
        for var in &vars {
            var.set(0);
        }
    });
    let before = live_bytes();
    for round in 0..10_000u64 {
        let mut ctx = Context::new();
        ctx.run(|| {
            V.set(format!("request {round}"));
            for var in &vars {
                var.set(round);
            }
            let mut child = copy_context();
            child.run(|| vars[0].set(0));
        });
    }
    assert_eq!(live_bytes() - before, 0);
}

#[test]
fn a_value_dropped_at_thread_exit_may_set_and_reset_variables() {
    static W: ContextVar<u32> = ContextVar::with_default("w", || 0);
    static HOLDER: ContextVar<ResetsOnDrop> = ContextVar::new("resets on drop");
    static LATE: ContextVar<Counted> = ContextVar::new("bound during teardown");
    struct ResetsOnDrop(Option<contextvars::Token<u32>>, Arc<AtomicUsize>);
    impl Drop for ResetsOnDrop {
        fn drop(&mut self) {
            // Runs at thread exit, after the thread's context was emptied: the context is still
            // usable, nothing is bound in it any more, and it is the same context, so a token made
            // in it still resets.
            if let Some(token) = self.0.take() {
                W.reset(token).unwrap();
            }
            assert!(!W.is_set());
            let token = W.set(3);
            assert_eq!(W.get(), 3);
            W.reset(token).unwrap();
            assert_eq!(W.get(), 0);
            let mut ctx = Context::new();
            ctx.run(|| drop(W.set(4)));
            // A value bound now is dropped too, by the next round of the thread's cleanup.
            drop(LATE.set(Counted(self.1.clone())));
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = counter();
    let held = drops.clone();
    std::thread::spawn(move || {
        let token = W.set(1);
        HOLDER.set(ResetsOnDrop(Some(token), held));
    })
    .join()
    .unwrap();
    assert_eq!(
        count(&drops),
        2,
        "the holder, and the value it bound while being dropped"
    );
}
