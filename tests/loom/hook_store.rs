//! A loom model of the store behind `contextvars::tokio::inherit_on_spawn`: every interleaving
//! of a task's spawn, polls, termination, abort and the runtime's shutdown, on two or three
//! threads, with loom's checks of every access to a task's context (a value of the model's
//! own here) and of the orderings that hand it from thread to thread.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p contextvars-loom --release`; without the cfg
//! this file is empty. The store's own file is compiled here as it is in the crate, with loom's
//! atomics, mutexes, cells and `yield_now` in place of std's.
#![cfg(loom)]

#[path = "../../src/tokio/store.rs"]
#[allow(dead_code, unreachable_pub)]
mod store;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

use store::{Begin, Cache, Claim, Store};

/// A task's value: what the polls wrote, and a count of its drops.
struct Value(u64, Arc<AtomicUsize>);

impl Drop for Value {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

type TestStore = Store<u64, Value, 2>;

const TASK: u64 = 1;

/// Spins a poll may make before it gives up on the previous poller: loom runs the other
/// threads at each yield, so a few are enough.
const SPINS: usize = 3;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// One poll: claims the value, checks what the previous poll wrote and writes its own; true
/// when it was claimed.
fn poll(store: &TestStore, cache: &mut Cache<u64, Value>, expect: &[u64], write: u64) -> bool {
    // As the hooks do: the cell this thread cached first, then the store.
    let claim = match store.claim_cached(TASK, cache) {
        Some(claim) => claim,
        None => {
            let (begin, replaced) = store.begin_poll(TASK, cache, SPINS, || unreachable!());
            assert!(replaced.is_none());
            let Begin::Claimed(claim) = begin else {
                return false;
            };
            claim
        }
    };
    // SAFETY: the claim owns the value until it is handed back.
    let seen = claim.with_value(|value| unsafe { std::mem::replace(&mut (*value).0, write) });
    assert!(
        expect.contains(&seen),
        "saw {seen}, expected one of {expect:?}"
    );
    drop(store.end_poll(claim, cache));
    true
}

/// A task spawned with `Value(0, drops)` and claimed by a first poll on this thread.
fn spawned_and_claimed() -> (
    Arc<AtomicUsize>,
    Arc<TestStore>,
    Cache<u64, Value>,
    Claim<u64, Value>,
) {
    let drops = Arc::new(AtomicUsize::new(0));
    let store = Arc::new(TestStore::new());
    drop(store.spawn(TASK, Value(0, Arc::clone(&drops))));
    let mut cache = Cache::new();
    let (Begin::Claimed(claim), _) = store.begin_poll(TASK, &mut cache, SPINS, || unreachable!())
    else {
        panic!("claimed");
    };
    (drops, store, cache, claim)
}

#[test]
fn the_next_poll_on_another_thread_races_the_previous_poller_s_after_poll_hook() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let store = Arc::new(TestStore::new());
        assert!(store.spawn(TASK, Value(0, Arc::clone(&drops))).is_none());
        // tokio's own state machine orders the second poll after the first one's `run`,
        // not after its after-poll hook.
        let first_ran = Arc::new(AtomicBool::new(false));
        let first = {
            let (store, first_ran) = (Arc::clone(&store), Arc::clone(&first_ran));
            thread::spawn(move || {
                let mut cache = Cache::new();
                let (Begin::Claimed(claim), _) =
                    store.begin_poll(TASK, &mut cache, SPINS, || unreachable!())
                else {
                    panic!("the first poll claims the value");
                };
                // SAFETY: the claim owns the value.
                claim.with_value(|value| unsafe { (*value).0 = 1 });
                first_ran.store(true, Ordering::Release);
                drop(store.end_poll(claim, &mut cache));
            })
        };
        while !first_ran.load(Ordering::Acquire) {
            thread::yield_now();
        }
        let mut cache = Cache::new();
        // Either it waited for the value, or it gave up and ran without it.
        let claimed = poll(&store, &mut cache, &[1], 2);
        first.join().unwrap();
        let expected = if claimed { 2 } else { 1 };
        let Ok(Some(value)) = store.terminate(TASK, SPINS) else {
            panic!("the store owns the value after both polls");
        };
        assert_eq!(value.0, expected);
        drop(value);
        drop(cache);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_poll_from_a_thread_s_cache_sees_the_writes_of_a_poll_on_another_thread() {
    // Polls on two threads in turn, A, B, A: the third claims the cell A cached, which B's
    // poll handed back, perhaps after the third began.
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let store = Arc::new(TestStore::new());
        drop(store.spawn(TASK, Value(0, Arc::clone(&drops))));
        let mut cache = Cache::new();
        assert!(poll(&store, &mut cache, &[0], 1));
        let second_ran = Arc::new(AtomicBool::new(false));
        let second = {
            let (store, second_ran) = (Arc::clone(&store), Arc::clone(&second_ran));
            thread::spawn(move || {
                let mut cache = Cache::new();
                let (Begin::Claimed(claim), _) =
                    store.begin_poll(TASK, &mut cache, SPINS, || unreachable!())
                else {
                    panic!("the first poll handed the value back");
                };
                second_ran.store(true, Ordering::Release);
                // A write after `run`, in the after-poll hook (leaving the context): only the
                // hand-back orders it before the next poll.
                // SAFETY: the claim owns the value.
                claim.with_value(|value| unsafe { (*value).0 = 2 });
                drop(store.end_poll(claim, &mut cache));
            })
        };
        while !second_ran.load(Ordering::Acquire) {
            thread::yield_now();
        }
        let claimed = poll(&store, &mut cache, &[2], 3);
        second.join().unwrap();
        let Ok(Some(value)) = store.terminate(TASK, SPINS) else {
            panic!("the store owns the value after the polls");
        };
        assert_eq!(value.0, if claimed { 3 } else { 2 });
        drop(value);
        drop(cache);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn termination_races_the_after_poll_hook_and_the_value_is_dropped_once() {
    // Shutdown (or an abort) terminating the task on one thread while the thread that polled
    // it last is still in its after-poll hook.
    model(|| {
        let (drops, store, mut cache, claim) = spawned_and_claimed();
        let terminator = {
            let store = Arc::clone(&store);
            thread::spawn(move || drop(store.terminate(TASK, SPINS).expect("the task is filed")))
        };
        // SAFETY: the claim owns the value.
        claim.with_value(|value| unsafe { (*value).0 = 1 });
        drop(store.end_poll(claim, &mut cache));
        terminator.join().unwrap();
        drop(cache);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_task_that_ends_in_its_poll_is_dropped_by_its_poller_while_a_late_poll_races() {
    // The task returns inside its poll on one thread (the terminate hook runs there, inside the
    // poll), while a poll that tokio handed out before the end races its hooks on another.
    model(|| {
        let (drops, store, mut cache, claim) = spawned_and_claimed();
        let late = {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let mut cache = Cache::new();
                let (begin, replaced) = store.begin_poll(TASK, &mut cache, SPINS, || {
                    Value(7, Arc::new(AtomicUsize::new(0)))
                });
                assert!(replaced.is_none());
                if let Begin::Claimed(claim) = begin {
                    drop(store.end_poll(claim, &mut cache));
                }
            })
        };
        // SAFETY: the claim owns the value.
        claim.with_value(|value| unsafe { (*value).0 = 1 });
        store.terminate_claimed(&claim);
        let value = store.end_poll(claim, &mut cache);
        assert!(matches!(value, Some(Value(1, _))));
        drop(value);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        late.join().unwrap();
        drop(cache);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn termination_races_a_before_poll_hook_and_the_value_is_dropped_once() {
    // An abort or shutdown on one thread while another thread's worker is about to poll.
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let store = Arc::new(TestStore::new());
        drop(store.spawn(TASK, Value(0, Arc::clone(&drops))));
        let poller = {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let mut cache = Cache::new();
                let (begin, replaced) = store.begin_poll(TASK, &mut cache, SPINS, || {
                    Value(7, Arc::new(AtomicUsize::new(0)))
                });
                drop(replaced);
                if let Begin::Claimed(claim) = begin {
                    drop(store.end_poll(claim, &mut cache));
                }
            })
        };
        drop(store.terminate(TASK, SPINS));
        poller.join().unwrap();
        // The value of the task, whichever thread dropped it, went exactly once; a poll that
        // came after the termination made a fresh value (not this task's) and left it filed.
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn spawns_and_polls_of_two_tasks_on_three_threads_keep_their_values_apart() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let store = Arc::new(TestStore::new());
        let spawner = {
            let (store, drops) = (Arc::clone(&store), Arc::clone(&drops));
            thread::spawn(move || drop(store.spawn(2, Value(20, drops))))
        };
        drop(store.spawn(TASK, Value(0, Arc::clone(&drops))));
        let poller = {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let mut cache = Cache::new();
                assert!(poll(&store, &mut cache, &[0, 1], 1));
            })
        };
        let mut cache = Cache::new();
        assert!(poll(&store, &mut cache, &[0, 1], 1));
        poller.join().unwrap();
        spawner.join().unwrap();
        let Ok(Some(other)) = store.terminate(2, SPINS) else {
            panic!("the second task's value is filed");
        };
        assert_eq!(other.0, 20);
        drop(other);
        drop(store.terminate(TASK, SPINS));
        drop(cache);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    });
}
