//! Where the task hooks keep each task's context between polls, without a lock per poll.
//!
//! Each task has a [`Cell`]: its value (the task's context) and an atomic state saying who owns
//! that value. A fixed array of mutex-guarded maps, sharded by task id, finds a task's cell;
//! its locks are taken when a task is spawned, when it terminates, and when a thread polls a
//! task it has not polled lately. A poll takes no lock: each thread keeps the cells of the
//! tasks it polled last in a small cache that the caller owns ([`Cache`]), and a poll moves the
//! cell out of that cache and back, touching no reference count.
//!
//! States, and who owns the value in each:
//!
//! - `IDLE`: the store. A poll claims it with a compare-exchange to `POLLING` (acquire), which
//!   sees every write of the previous poller, on whatever thread.
//! - `POLLING`: the poller. Ending the poll hands it back with a compare-exchange to `IDLE`
//!   (release). A poll that finds `POLLING` is the next poll of a task whose previous poller
//!   has not yet ended its poll (tokio can run a task again on another worker before the first
//!   worker's after-poll hook has run): it waits for it.
//! - `TERMINATING`: the task terminated while being polled; the poller, when it ends the poll,
//!   drops the value and marks the cell `DEAD`.
//! - `DEAD`: no value.
//!
//! This file depends on nothing else in the crate, so that the loom model (`tests/loom`,
//! under `--cfg loom`) compiles it with loom's atomics, mutexes and cells.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

use sync::{Arc, AtomicU8, Mutex, MutexGuard, Ordering, UnsafeCell, yield_now};

#[cfg(not(loom))]
mod sync {
    pub(crate) use std::sync::atomic::{AtomicU8, Ordering};
    pub(crate) use std::sync::{Arc, Mutex, MutexGuard};
    pub(crate) use std::thread::yield_now;

    /// `std`'s cell with loom's interface, so the same code runs under both.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> UnsafeCell<T> {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(loom)]
mod sync {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
    pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
    pub(crate) use loom::thread::yield_now;
}

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const TERMINATING: u8 = 2;
const DEAD: u8 = 3;

/// One task's value and who owns it (see the module docs).
pub(crate) struct Cell<T> {
    state: AtomicU8,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is reached only by the owner the state names: the store (through a
// successful compare-exchange from `IDLE`) or the one poller that moved the state to `POLLING`,
// and every hand-over is a release write read by an acquire one. `T: Send` lets the value be
// used, and dropped, on another thread than the one that made it.
unsafe impl<T: Send> Sync for Cell<T> {}

impl<T> Cell<T> {
    fn new(state: u8, value: T) -> Cell<T> {
        Cell {
            state: AtomicU8::new(state),
            value: UnsafeCell::new(Some(value)),
        }
    }

    /// Takes the value. The caller must own it: it moved the state away from `IDLE` or
    /// `POLLING` itself.
    fn take(&self) -> Option<T> {
        // SAFETY: the caller owns the value (see above), so nothing else reaches it.
        self.value.with_mut(|value| unsafe { (*value).take() })
    }

    /// The task terminated: takes the value if the store owns it, or leaves it to the poller.
    fn terminate(&self) -> Option<T> {
        loop {
            match self
                .state
                .compare_exchange(IDLE, DEAD, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return self.take(),
                Err(POLLING) => {
                    if self
                        .state
                        .compare_exchange(POLLING, TERMINATING, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        return None;
                    }
                    // The poll ended meanwhile: the store owns the value again.
                }
                Err(_) => return None,
            }
        }
    }
}

/// The cells of the tasks a thread polled last, owned by that thread.
pub(crate) struct Cache<K, T> {
    cells: Vec<(K, Arc<Cell<T>>)>,
}

/// How many cells a thread keeps: enough for the tasks a worker switches between, few enough
/// that a search is a handful of comparisons.
const CACHED: usize = 8;

impl<K: Copy + Eq, T> Cache<K, T> {
    pub(crate) const fn new() -> Cache<K, T> {
        Cache { cells: Vec::new() }
    }

    fn take(&mut self, key: K) -> Option<Arc<Cell<T>>> {
        let position = self.cells.iter().rposition(|(have, _)| *have == key)?;
        Some(self.cells.swap_remove(position).1)
    }

    fn put(&mut self, key: K, cell: Arc<Cell<T>>) {
        if self.cells.len() == CACHED {
            self.cells.swap_remove(0);
        }
        self.cells.push((key, cell));
    }
}

/// A task's value, claimed for one poll: [`Store::end_poll`] hands it back.
pub(crate) struct Claim<K, T> {
    key: K,
    cell: Arc<Cell<T>>,
}

impl<K, T> Claim<K, T> {
    /// Calls `f` with the claimed value. The value stays at this address until the claim is
    /// handed back, so the pointer `f` gets may be kept until then.
    pub(crate) fn with_value<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        self.cell.value.with_mut(|value| {
            // SAFETY: the claim owns the value (the state is `POLLING` or `TERMINATING`, set by
            // this claim's poll), and a claimed cell always holds one.
            let value = unsafe { (*value).as_mut() }.expect("a claimed cell holds a value");
            f(value)
        })
    }
}

/// What [`Store::begin_poll`] found.
pub(crate) enum Begin<K, T> {
    /// The task's value, claimed for this poll.
    Claimed(Claim<K, T>),
    /// The task terminated: it has no value any more.
    Dead,
    /// Another thread still holds the task's value after `spins` waits: the poll goes without.
    Busy,
}

/// One shard: the cells of the tasks whose keys hash to it.
type Shard<K, T> = HashMap<K, Arc<Cell<T>>, BuildHasherDefault<KeyHasher>>;

/// The cells of every task, found by key.
pub(crate) struct Store<K, T, const SHARDS: usize> {
    shards: [Mutex<Shard<K, T>>; SHARDS],
}

impl<K: Copy + Eq + Hash, T, const SHARDS: usize> Store<K, T, SHARDS> {
    /// An empty store, for a `static`.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Store<K, T, SHARDS> {
        Store {
            shards: [const { Mutex::new(HashMap::with_hasher(BuildHasherDefault::new())) }; SHARDS],
        }
    }

    /// An empty store (loom's mutexes are made at run time, inside the model).
    #[cfg(loom)]
    pub(crate) fn new() -> Store<K, T, SHARDS> {
        Store {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::default())),
        }
    }

    fn shard(&self, key: K) -> MutexGuard<'_, Shard<K, T>> {
        let hash = BuildHasherDefault::<KeyHasher>::default().hash_one(key);
        // The top bits of the product spread consecutive keys over the shards.
        #[allow(clippy::cast_possible_truncation)] // fewer bits than a usize
        let index = ((hash >> 32) as usize) % SHARDS;
        lock(&self.shards[index])
    }

    /// Files `value` for a new task; returns the value of a task filed under the same key
    /// before, if the store owned it, for the caller to drop with no lock held.
    pub(crate) fn spawn(&self, key: K, value: T) -> Option<T> {
        let replaced = self
            .shard(key)
            .insert(key, Arc::new(Cell::new(IDLE, value)));
        replaced.and_then(|cell| cell.terminate())
    }

    /// Claims the task's value for a poll, waiting (at most `spins` yields) for a previous
    /// poller that has not yet ended its poll. A task the store has never seen gets `make()`,
    /// filed for it.
    pub(crate) fn begin_poll(
        &self,
        key: K,
        cache: &mut Cache<K, T>,
        spins: usize,
        make: impl FnOnce() -> T,
    ) -> (Begin<K, T>, Option<T>) {
        let found = cache
            .take(key)
            .or_else(|| self.shard(key).get(&key).cloned());
        let Some(cell) = found else {
            let cell = Arc::new(Cell::new(POLLING, make()));
            let replaced = self.shard(key).insert(key, Arc::clone(&cell));
            let replaced = replaced.and_then(|cell| cell.terminate());
            return (Begin::Claimed(Claim { key, cell }), replaced);
        };
        for _ in 0..=spins {
            match cell
                .state
                .compare_exchange(IDLE, POLLING, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return (Begin::Claimed(Claim { key, cell }), None),
                Err(DEAD) => return (Begin::Dead, None),
                Err(_) => yield_now(),
            }
        }
        cache.put(key, cell);
        (Begin::Busy, None)
    }

    /// Hands a claimed value back at the end of its poll; returns it instead when the task
    /// terminated during the poll, for the caller to drop.
    #[allow(clippy::unused_self)] // a method of the store, as its other transitions are
    pub(crate) fn end_poll(&self, claim: Claim<K, T>, cache: &mut Cache<K, T>) -> Option<T> {
        let Claim { key, cell } = claim;
        let handed_back =
            cell.state
                .compare_exchange(POLLING, IDLE, Ordering::Release, Ordering::Acquire);
        if handed_back.is_ok() {
            cache.put(key, cell);
            return None;
        }
        // `TERMINATING`: the task ended while this claim held the value, which is still this
        // claim's to drop.
        let value = cell.take();
        cell.state.store(DEAD, Ordering::Release);
        value
    }

    /// The task terminated: forgets its cell; returns its value if the store owned it, for the
    /// caller to drop; `Err(())` when the store had no cell for the task.
    pub(crate) fn terminate(&self, key: K) -> Result<Option<T>, ()> {
        let cell = self.shard(key).remove(&key).ok_or(())?;
        Ok(cell.terminate())
    }
}

/// A poisoned lock is still used: no code that can panic runs under these locks.
#[cfg(not(loom))]
fn lock<V>(mutex: &Mutex<V>) -> MutexGuard<'_, V> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(loom)]
fn lock<V>(mutex: &Mutex<V>) -> MutexGuard<'_, V> {
    mutex.lock().unwrap()
}

/// Task ids are distinct integers from a counter: a multiplication is hash enough.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0 ^ value).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The store's transitions on real threads, small enough for Miri (the loom model in
/// `tests/loom` explores their interleavings).
#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{Begin, Cache, Claim, Store};

    /// A value that counts its drops.
    struct Value(u64, Arc<AtomicUsize>);

    impl Drop for Value {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    type TestStore = Store<u64, Value, 2>;

    fn claim_and_write(store: &TestStore, cache: &mut Cache<u64, Value>, write: u64) -> u64 {
        let (begin, replaced) = store.begin_poll(1, cache, 1_000, || unreachable!());
        assert!(replaced.is_none());
        let Begin::Claimed(claim) = begin else {
            panic!("the task's value was not claimed");
        };
        // SAFETY: the claim owns the value for the length of the call.
        let seen = claim.with_value(|value| unsafe { std::mem::replace(&mut (*value).0, write) });
        assert!(store.end_poll(claim, cache).is_none());
        seen
    }

    #[test]
    fn polls_on_two_threads_in_turn_see_each_other_s_writes_and_terminate_drops_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let store = TestStore::new();
        assert!(store.spawn(1, Value(0, Arc::clone(&drops))).is_none());
        std::thread::scope(|scope| {
            for round in 0..2 {
                let store = &store;
                scope
                    .spawn(move || {
                        let mut cache = Cache::new();
                        assert_eq!(claim_and_write(store, &mut cache, round + 1), round);
                        // A second poll on the same thread takes the cell from the cache.
                        assert_eq!(claim_and_write(store, &mut cache, round + 1), round + 1);
                    })
                    .join()
                    .unwrap();
            }
        });
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        assert!(matches!(store.terminate(1), Ok(Some(Value(2, _)))));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(store.terminate(1).is_err());
        let mut cache = Cache::new();
        let (begin, _) = store.begin_poll(1, &mut cache, 0, || Value(9, Arc::clone(&drops)));
        let Begin::Claimed(claim) = begin else {
            panic!("an unknown task gets a fresh value")
        };
        assert!(store.end_poll(claim, &mut cache).is_none());
        drop(store.terminate(1));
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    /// Task 1 spawned with `Value(0, drops)` and claimed by its first poll.
    fn spawn_and_claim(
        store: &TestStore,
        cache: &mut Cache<u64, Value>,
        drops: &Arc<AtomicUsize>,
    ) -> Claim<u64, Value> {
        drop(store.spawn(1, Value(0, Arc::clone(drops))));
        let (Begin::Claimed(claim), _) = store.begin_poll(1, cache, 0, || unreachable!()) else {
            panic!("not claimed");
        };
        claim
    }

    #[test]
    fn a_task_that_terminates_while_polled_is_dropped_by_its_poller() {
        let drops = Arc::new(AtomicUsize::new(0));
        let store = TestStore::new();
        let mut cache = Cache::new();
        let claim = spawn_and_claim(&store, &mut cache, &drops);
        std::thread::scope(|scope| {
            scope.spawn(|| assert!(matches!(store.terminate(1), Ok(None))));
        });
        let value = store.end_poll(claim, &mut cache);
        assert!(matches!(value, Some(Value(0, _))));
        drop(value);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        // A later poll finds nothing to claim.
        let (begin, _) = store.begin_poll(1, &mut cache, 0, || Value(9, Arc::clone(&drops)));
        assert!(matches!(begin, Begin::Claimed(_)), "an unknown task again");
    }

    #[test]
    fn a_poll_waits_for_the_previous_poller_to_hand_the_value_back() {
        let drops = Arc::new(AtomicUsize::new(0));
        let store = TestStore::new();
        let mut cache = Cache::new();
        let claim = spawn_and_claim(&store, &mut cache, &drops);
        // SAFETY: the claim owns the value.
        claim.with_value(|value| unsafe { (*value).0 = 5 });
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                let mut cache = Cache::new();
                claim_and_write(&store, &mut cache, 6)
            });
            assert!(store.end_poll(claim, &mut cache).is_none());
            assert_eq!(waiter.join().unwrap(), 5);
        });
        // Busy when the holder never hands it back within the spins.
        let (Begin::Claimed(claim), _) = store.begin_poll(1, &mut cache, 0, || unreachable!())
        else {
            panic!("not claimed");
        };
        let mut other = Cache::new();
        assert!(matches!(
            store.begin_poll(1, &mut other, 2, || unreachable!()).0,
            Begin::Busy
        ));
        assert!(store.end_poll(claim, &mut cache).is_none());
        drop((store, cache, other));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}
