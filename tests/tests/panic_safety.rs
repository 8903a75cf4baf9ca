//! A panic anywhere leaves the thread's current context exactly as it was, and the library keeps
//! working: panics inside `run`, inside a poll, inside default factories, inside the `Drop` of a
//! value a context holds (displaced by a set, by a reset, by a variable's drop, or dropped with
//! its context), inside a `set_guard`'s reset, and inside a `with` closure.
//!
//! Every test compares the current context after the panic with a `copy_context()` taken before
//! (`same_bindings`: the same variables bound to the same stored values), checks the values, and
//! then sets, reads and resets again.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::task::{self, Poll, Waker};

use contextvars::{Context, ContextVar, FutureExt, context_var, copy_context, reset_module};

static A: ContextVar<u32> = ContextVar::with_default("a", || 0);
static B: ContextVar<String> = ContextVar::new("b");

use contextvars_tests::quiet_panics;

use contextvars_tests::in_child::in_child;
use quiet_panics::{must_panic, quiet};

/// Binds `A` and `B` in the current context and returns a snapshot of it.
fn populate() -> Context {
    A.set(1);
    B.set("outer".to_owned());
    copy_context()
}

fn assert_is(before: &Context) {
    assert!(
        copy_context().same_bindings(before),
        "the current context changed"
    );
    assert_eq!(A.get(), before.get(&A).unwrap_or(0));
    assert_eq!(B.try_get().ok(), before.get(&B));
}

/// Set, read, reset, copy and run all still work.
fn assert_still_works() {
    let was = A.get();
    let token = A.set(was + 100);
    assert_eq!(A.get(), was + 100);
    let mut inner = copy_context();
    inner.run(|| {
        A.set(7);
        assert_eq!(A.get(), 7);
    });
    assert_eq!(A.get(), was + 100);
    assert_eq!(inner.get(&A), Some(7));
    A.reset(token).unwrap();
    assert_eq!(A.get(), was);
    let guarded = B.scope("scoped".to_owned(), || B.get());
    assert_eq!(guarded, "scoped");
}

/// Panics when dropped while armed, unless the thread is already unwinding (a second panic
/// would abort).
struct Bomb(&'static str, AtomicBool);

impl Bomb {
    fn new(name: &'static str) -> Bomb {
        Bomb(name, AtomicBool::new(true))
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        let armed = self.1.load(Ordering::SeqCst) && !std::thread::panicking();
        assert!(!armed, "boom: dropped {}", self.0);
    }
}

/// Disarms the bomb bound in the current context, which goes with the thread's context when
/// the test's thread ends (a panic there would abort).
fn disarm() {
    BOMB.with(|bomb| {
        if let Some(bomb) = bomb {
            bomb.1.store(false, Ordering::SeqCst);
        }
    });
}

struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

static BOMB: ContextVar<Bomb> = ContextVar::new("bomb");
static COUNTED: ContextVar<DropCounter> = ContextVar::new("counted");

#[test]
fn a_panic_inside_run_restores_the_callers_context() {
    let before = populate();
    let mut ctx = Context::new();
    must_panic(|| {
        ctx.run(|| {
            A.set(2);
            B.set("inner".to_owned());
            panic!("boom in run");
        })
    });
    assert_is(&before);
    assert_eq!(
        (ctx.get(&A), ctx.get(&B).as_deref()),
        (Some(2), Some("inner")),
        "changes made before the panic stay in the context"
    );
    assert_still_works();
    ctx.run(|| assert_eq!(A.get(), 2));
}

#[test]
fn a_panic_in_a_nested_run_restores_each_level() {
    let before = populate();
    let mut outer = copy_context();
    outer.run(|| {
        A.set(10);
        let inside_outer = copy_context();
        let mut inner = Context::new();
        must_panic(|| inner.run(|| Context::new().run(|| panic!("boom deep"))));
        assert_is(&inside_outer);
        assert_still_works();
    });
    assert_is(&before);
    assert_eq!(outer.get(&A), Some(10));
    assert_still_works();
}

#[test]
fn a_panic_inside_a_poll_restores_the_pollers_context_and_keeps_the_tasks_changes() {
    let before = populate();
    let mut cx = task::Context::from_waker(Waker::noop());
    let mut first_poll = true;
    let task = std::future::poll_fn(move |_| {
        if first_poll {
            first_poll = false;
            A.set(5);
            return Poll::<()>::Pending;
        }
        A.set(6);
        panic!("boom in poll")
    });
    let mut task = pin!(task.with_current_context());
    assert!(task.as_mut().poll(&mut cx).is_pending());
    assert_is(&before);
    must_panic(|| task.as_mut().poll(&mut cx));
    assert_is(&before);
    assert_eq!(task.context().get(&A), Some(6));
    assert_still_works();

    // The same through `run_future`, which keeps the context with the caller.
    let mut kept = Context::new();
    must_panic(|| {
        let mut future = pin!(kept.run_future(async {
            B.set("task".to_owned());
            panic!("boom in run_future")
        }));
        future.as_mut().poll(&mut cx)
    });
    assert_is(&before);
    assert_eq!(kept.get(&B).as_deref(), Some("task"));
    assert_still_works();
}

#[test]
fn a_panic_in_one_branch_of_join_all_leaves_the_caller_as_it_was() {
    let before = populate();
    let branches: Vec<std::pin::Pin<Box<dyn Future<Output = ()>>>> = vec![
        Box::pin(async {
            A.set(50);
        }),
        Box::pin(async {
            A.set(51);
            panic!("boom in a branch")
        }),
    ];
    must_panic(|| futures::executor::block_on(contextvars::join_all(branches)));
    assert_is(&before);
    assert_still_works();
}

#[test]
fn a_panic_on_a_thread_of_thread_spawn_leaves_the_parent_as_it_was() {
    let before = populate();
    quiet();
    let joined = contextvars::thread::spawn(|| {
        A.set(99);
        panic!("boom on a thread")
    })
    .join();
    assert!(joined.is_err());
    assert_is(&before);
    assert_still_works();
}

mod explosive {
    use super::context_var;

    #[context_var(default = 3)]
    pub static CALM: u32;

    #[context_var(default = panic!("boom: no default"))]
    pub static EXPLOSIVE: u32;

    #[context_var(default = 4)]
    pub static ALSO_CALM: u32;
}

#[test]
// `Option::copied` as a path is not general over the borrow's lifetime.
#[allow(clippy::redundant_closure_for_method_calls)]
fn a_panicking_declared_default_changes_nothing() {
    use explosive::{ALSO_CALM, CALM, EXPLOSIVE};
    let before = populate();
    must_panic(|| EXPLOSIVE.get());
    must_panic(|| EXPLOSIVE.with(|v| v.copied()));
    assert_is(&before);
    assert_eq!(
        EXPLOSIVE.get_or(8),
        8,
        "a fallback does not run the default"
    );

    // A reset of the module makes every fresh default before binding any: one panic, none bound.
    let calm = CALM.set(30);
    must_panic(|| reset_module!(explosive));
    assert_eq!((CALM.get(), ALSO_CALM.get()), (30, 4));
    assert!(!ALSO_CALM.is_set() && !EXPLOSIVE.is_set());
    CALM.reset(calm).unwrap();
    assert_is(&before);

    let token = EXPLOSIVE.set(1);
    assert_eq!(EXPLOSIVE.get(), 1);
    EXPLOSIVE.reset(token).unwrap();
    must_panic(|| EXPLOSIVE.get());
    assert_is(&before);
    assert_still_works();
}

#[test]
// `Option::cloned` as a path is not general over the borrow's lifetime.
#[allow(clippy::redundant_closure_for_method_calls)]
fn a_panicking_default_factory_runs_again_on_the_next_read() {
    static READY: AtomicBool = AtomicBool::new(false);
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    static LAZY: ContextVar<String> = ContextVar::with_default("lazy", || {
        CALLS.fetch_add(1, Ordering::SeqCst);
        assert!(READY.load(Ordering::SeqCst), "boom: not ready");
        "made".to_owned()
    });
    let before = populate();
    must_panic(|| LAZY.get());
    let mut ctx = Context::new();
    must_panic(|| ctx.run(|| LAZY.with(|v| v.cloned())));
    assert_is(&before);
    READY.store(true, Ordering::SeqCst);
    assert_eq!(LAZY.get(), "made");
    assert_eq!(LAZY.get(), "made");
    assert_eq!(CALLS.load(Ordering::SeqCst), 3, "made once it succeeded");
    assert_still_works();
}

#[test]
fn a_value_that_panics_when_displaced_by_a_set_leaves_the_new_value_bound() {
    populate();
    BOMB.set(Bomb::new("first"));
    // The token keeps the displaced value, its only holder; dropping the token drops it.
    let token = BOMB.set(Bomb::new("second"));
    let after_set = copy_context();
    must_panic(|| drop(token));
    assert_is(&after_set);
    assert_eq!(BOMB.with(|b| b.map(|b| b.0)), Some("second"));
    assert_still_works();
    disarm();
}

#[test]
fn a_value_that_panics_when_displaced_by_a_reset_leaves_the_reset_done() {
    let before = populate();
    let token = BOMB.set(Bomb::new("reset away"));
    must_panic(|| BOMB.reset(token));
    assert_is(&before);
    assert!(!BOMB.is_set());
    assert_still_works();
}

#[test]
fn a_value_that_panics_when_its_context_is_dropped_does_not_keep_the_others() {
    let before = populate();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut ctx = Context::new();
    let vars: Vec<ContextVar<DropCounter>> = (0..40).map(|_| ContextVar::new("other")).collect();
    ctx.run(|| {
        for var in &vars {
            var.set(DropCounter(drops.clone()));
        }
        BOMB.set(Bomb::new("with its context"));
        COUNTED.set(DropCounter(drops.clone()));
    });
    must_panic(|| drop(ctx));
    assert_eq!(
        drops.load(Ordering::SeqCst),
        41,
        "every other value of the context was dropped too"
    );
    assert_is(&before);
    assert_still_works();
}

#[test]
fn a_value_that_panics_when_its_runtime_variable_is_dropped() {
    let before = populate();
    let var = ContextVar::new("runtime");
    var.set(Bomb::new("with its variable"));
    must_panic(|| drop(var));
    assert_is(&before);
    assert_still_works();
}

#[test]
fn a_set_guard_whose_reset_panics_still_restores_the_value() {
    let before = populate();
    must_panic(|| {
        let _guard = BOMB.set_guard(Bomb::new("guarded"));
        assert!(BOMB.is_set());
    });
    assert_is(&before);
    // And a guard dropped by unwinding from a panic in the scope.
    must_panic(|| A.scope(77, || panic!("boom in scope")));
    assert_is(&before);
    must_panic(|| {
        let _a = A.set_guard(78);
        let _b = B.set_guard("guarded".to_owned());
        panic!("boom with guards")
    });
    assert_is(&before);
    assert_still_works();
}

#[test]
fn a_panic_inside_with_releases_the_borrow() {
    let before = populate();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut ctx = copy_context();
    ctx.run(|| {
        let inside = copy_context();
        must_panic(|| B.with(|_| panic!("boom in with")));
        must_panic(|| {
            A.with(|_| {
                B.with(|_| {
                    // Displaced while borrowed: parked, then dropped when the borrows close.
                    COUNTED.set(DropCounter(drops.clone()));
                    COUNTED.set(DropCounter(drops.clone()));
                    panic!("boom in nested with")
                })
            })
        });
        assert_eq!(drops.load(Ordering::SeqCst), 1, "parked values dropped");
        // The borrow count is back to zero: a displaced value is dropped at once, not parked.
        COUNTED.set(DropCounter(drops.clone()));
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        COUNTED.set(DropCounter(drops.clone()));
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        assert!(!copy_context().same_bindings(&inside));
    });
    assert_is(&before);
    assert_still_works();
}

#[test]
fn a_parked_value_that_panics_when_the_borrow_closes() {
    let before = populate();
    let drops = Arc::new(AtomicUsize::new(0));
    BOMB.set(Bomb::new("parked"));
    must_panic(|| {
        // `B` holds a `String`, which `with` borrows (a plain value such as `A`'s is copied).
        B.with(|_| {
            COUNTED.set(DropCounter(drops.clone()));
            // Parked while `B` is borrowed; dropped (and panics) when the borrow closes.
            BOMB.set(Bomb::new("replacement"));
            COUNTED.set(DropCounter(drops.clone()));
        });
    });
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the other parked value went too"
    );
    COUNTED.set(DropCounter(drops.clone()));
    assert_eq!(drops.load(Ordering::SeqCst), 2, "no borrow is left open");
    assert_eq!(BOMB.with(|b| b.map(|b| b.0)), Some("replacement"));
    assert_eq!(A.get(), before.get(&A).unwrap());
    assert_still_works();
    disarm();
}

#[test]
fn a_future_that_panics_when_dropped_inside_its_context() {
    let before = populate();
    let bomb = Bomb::new("with its future");
    let task = async move {
        let _held = &bomb;
        A.set(40);
        std::future::pending::<()>().await;
    };
    let mut task = Box::pin(task.with_current_context());
    let mut cx = task::Context::from_waker(Waker::noop());
    assert!(task.as_mut().poll(&mut cx).is_pending());
    assert_eq!(task.context().get(&A), Some(40));
    must_panic(|| drop(task));
    assert_is(&before);
    assert_still_works();
}

#[test]
fn a_set_guard_dropped_outside_its_context_leaves_both_contexts_as_they_were() {
    let before = populate();
    let mut ctx = Context::new();
    let guard = ctx.run(|| A.set_guard(60));
    let inside = ctx.clone();
    // The reset is refused (another context); debug builds report it with a panic.
    let dropped = catch_unwind(AssertUnwindSafe(|| {
        quiet_guard_report();
        drop(guard);
    }));
    assert_eq!(dropped.is_err(), cfg!(debug_assertions));
    assert_is(&before);
    assert!(ctx.same_bindings(&inside));
    assert_eq!(ctx.get(&A), Some(60));
    assert_still_works();
}

/// The debug report of a guard dropped in the wrong context is expected here.
fn quiet_guard_report() {
    static HOOK: Once = Once::new();
    quiet();
    HOOK.call_once(|| {
        let next = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info.payload().downcast_ref::<String>();
            if !message.is_some_and(|m| m.starts_with("SetGuard dropped")) {
                next(info);
            }
        }));
    });
}

/// A value whose `Drop` always panics.
struct AlwaysBoom;

impl Drop for AlwaysBoom {
    fn drop(&mut self) {
        panic!("boom on drop");
    }
}

static ALWAYS_1: ContextVar<AlwaysBoom> = ContextVar::new("always 1");
static ALWAYS_2: ContextVar<AlwaysBoom> = ContextVar::new("always 2");

#[test]
fn panicking_values_left_in_a_thread_s_own_context_do_not_abort_at_thread_exit() {
    in_child(
        "panicking_values_left_in_a_thread_s_own_context_do_not_abort_at_thread_exit",
        || {
            quiet();
            let dropped = Arc::new(AtomicUsize::new(0));
            let counted = Arc::clone(&dropped);
            std::thread::spawn(move || {
                ALWAYS_1.set(AlwaysBoom);
                ALWAYS_2.set(AlwaysBoom);
                COUNTED.set(DropCounter(counted));
            })
            .join()
            .unwrap();
            // The values beside the panicking ones are dropped too.
            assert_eq!(dropped.load(Ordering::SeqCst), 1);
            // The process goes on.
            A.set(5);
            assert_eq!(A.get(), 5);
        },
    );
}

#[test]
fn a_panicking_with_closure_whose_parked_values_panic_on_drop_does_not_abort() {
    in_child(
        "a_panicking_with_closure_whose_parked_values_panic_on_drop_does_not_abort",
        || {
            let mut context = Context::new();
            context.run(|| {
                ALWAYS_1.set(AlwaysBoom);
                ALWAYS_2.set(AlwaysBoom);
                // `B` holds a `String`, which `with` borrows (a plain value is copied).
                B.set("held".to_owned());
                must_panic(|| {
                    B.with(|_| {
                        // Both leave the map while a borrow is open: parked, then dropped as
                        // the closure's panic unwinds.
                        ALWAYS_1.set(AlwaysBoom);
                        ALWAYS_2.set(AlwaysBoom);
                        panic!("boom in the closure");
                    })
                });
                // Without a panic of the closure, the first drop panic comes out of `with`.
                must_panic(|| {
                    B.with(|_| {
                        ALWAYS_1.set(AlwaysBoom);
                        ALWAYS_2.set(AlwaysBoom);
                    });
                });
                assert_eq!(B.get(), "held");
            });
            // Its two panicking values would make a double panic when dropped together.
            std::mem::forget(context);
        },
    );
}
