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
//!   sees every write of the previous poller, on whatever thread; so does the termination of a
//!   task between polls, with a compare-exchange to `DEAD`.
//! - `POLLING`: the poller, and only the poller writes the state: ending the poll hands the
//!   value back with a plain store of `IDLE` (release), no read-modify-write. A poll that finds
//!   `POLLING` is the next poll of a task whose previous poller has not yet ended its poll
//!   (tokio can run a task again on another worker before the first worker's after-poll hook
//!   has run): it waits for it. A termination elsewhere (a runtime shutting down) waits for the
//!   poller as the next poll does; one that gives up (a poller whose after-poll hook never
//!   runs) leaves the value to the cell's last reference.
//! - `ENDED`: the poller still, for a task that terminated inside its poll, on the polling
//!   thread ([`Store::terminate_claimed`]), and for a value made for one poll only
//!   ([`Store::detached`]): ending the poll takes the value, for the caller to drop, and stores
//!   `DEAD`.
//! - `DEAD`: no value.
//!
//! Polls of one task never overlap: tokio hands a task to one worker at a time, and a worker
//! begins a poll only after the previous poll's `run` (not its after-poll hook) is over. Only
//! a poll that has claimed the value ends a poll, so the plain stores of `ENDED`, `IDLE` and
//! `DEAD` never overwrite another thread's write: the claim is the only writer while the state
//! is `POLLING` or `ENDED`.
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
const ENDED: u8 = 2;
const DEAD: u8 = 3;

/// One task's value and who owns it (see the module docs).
pub(crate) struct Cell<T> {
    state: AtomicU8,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is reached only by the owner the state names: the store (through a
// successful compare-exchange from `IDLE`) or the one poller that moved the state to `POLLING`,
// and every hand-over is a release write read by an acquire one; a cell's last reference owns
// it too, nothing else reaching the cell. `T: Send` lets the value be
// used, and dropped, on another thread than the one that made it.
unsafe impl<T: Send> Sync for Cell<T> {}

impl<T> Cell<T> {
    fn new(state: u8, value: T) -> Cell<T> {
        Cell {
            state: AtomicU8::new(state),
            value: UnsafeCell::new(Some(value)),
        }
    }

    /// Takes the value. The caller must own it: it moved the state away from `IDLE` itself, or
    /// holds the claim of the poll under way.
    fn take(&self) -> Option<T> {
        // SAFETY: the caller owns the value (see above), so nothing else reaches it.
        self.value.with_mut(|value| unsafe { (*value).take() })
    }

    /// The task terminated outside a poll of this thread: takes the value, waiting (at most
    /// `spins` yields) for a poller to hand it back; past that, the value goes with the cell.
    fn terminate(&self, spins: usize) -> Option<T> {
        for _ in 0..=spins {
            match self
                .state
                .compare_exchange(IDLE, DEAD, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return self.take(),
                Err(POLLING) => yield_now(),
                // `ENDED`: the poller drops the value; `DEAD`: gone already.
                Err(_) => return None,
            }
        }
        None
    }
}

/// The value of a cell that nothing else reaches any more (see [`Cell::terminate`]), for the
/// caller to drop; nothing when another reference is left, or the cell has none.
fn release<T>(cell: Arc<Cell<T>>) -> Option<T> {
    #[cfg(not(loom))]
    let last = Arc::into_inner(cell);
    #[cfg(loom)]
    let last = Arc::try_unwrap(cell).ok();
    last.and_then(|cell| {
        cell.value.with_mut(|value| {
            // SAFETY: this is the cell's last reference, so nothing else reaches the value.
            unsafe { (*value).take() }
        })
    })
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

    /// Keeps `cell`; returns the value of the cell it pushed out if that was the cell's last
    /// reference (see [`release`]).
    #[inline(always)]
    #[allow(clippy::inline_always)] // part of the task hooks' per-poll path (measured)
    #[must_use]
    fn put(&mut self, key: K, cell: Arc<Cell<T>>) -> Option<T> {
        if self.cells.len() < CACHED {
            self.cells.push((key, cell));
            return None;
        }
        self.evict_and_put(key, cell)
    }

    #[cold]
    #[inline(never)]
    fn evict_and_put(&mut self, key: K, cell: Arc<Cell<T>>) -> Option<T> {
        let evicted = self.cells.swap_remove(0).1;
        self.cells.push((key, cell));
        release(evicted)
    }

    /// Empties the cache; returns the values of the cells it held the last reference of.
    pub(crate) fn clear(&mut self) -> Vec<T> {
        self.cells
            .drain(..)
            .filter_map(|(_, cell)| release(cell))
            .collect()
    }
}

/// A task's value, claimed for one poll: [`Store::end_poll`] hands it back.
pub(crate) struct Claim<K, T> {
    key: K,
    cell: Arc<Cell<T>>,
}

impl<K, T> Claim<K, T> {
    /// The task's key.
    pub(crate) fn key(&self) -> &K {
        &self.key
    }

    /// Whether ending the poll drops the value rather than hand it back: the task terminated
    /// during the poll, or the value was made for this poll only.
    pub(crate) fn ends(&self) -> bool {
        // Only this claim writes the state while it holds the value.
        self.cell.state.load(Ordering::Relaxed) == ENDED
    }

    /// Calls `f` with the claimed value. The value stays at this address until the claim is
    /// handed back, so the pointer `f` gets may be kept until then.
    pub(crate) fn with_value<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        self.cell.value.with_mut(|value| {
            // SAFETY: the claim owns the value (the state is `POLLING` or `ENDED`, and only the
            // claim moves it on), and a claimed cell always holds one.
            let value = unsafe { (*value).as_mut() }.expect("a claimed cell holds a value");
            f(value)
        })
    }
}

impl<K, T> Begin<K, T> {
    fn claimed(key: K, cell: Arc<Cell<T>>) -> Begin<K, T> {
        Begin::Claimed(Claim { key, cell })
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
        replaced.and_then(|cell| cell.terminate(0))
    }

    /// Claims the task's value for a poll if `cache` holds its cell and no other thread holds
    /// the value: the common poll, with no lock and no wait. `None` leaves everything as it was,
    /// for [`begin_poll`](Self::begin_poll).
    #[inline(always)]
    #[allow(clippy::inline_always)] // part of the task hooks' per-poll path (measured)
    #[allow(clippy::unused_self)] // a method of the store, as its other transitions are
    pub(crate) fn claim_cached(&self, key: K, cache: &mut Cache<K, T>) -> Option<Claim<K, T>> {
        let position = cache.cells.iter().rposition(|(have, _)| *have == key)?;
        cache.cells[position]
            .1
            .state
            .compare_exchange(IDLE, POLLING, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        let (_, cell) = cache.cells.swap_remove(position);
        Some(Claim { key, cell })
    }

    /// Claims the task's value for a poll, waiting (at most `spins` yields) for a previous
    /// poller that has not yet ended its poll. A task the store has never seen gets `make()`,
    /// filed for it. The second value is one for the caller to drop: a task's value that the
    /// store no longer reaches.
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
            let replaced = replaced.and_then(|cell| cell.terminate(spins));
            return (Begin::claimed(key, cell), replaced);
        };
        for _ in 0..=spins {
            match cell
                .state
                .compare_exchange(IDLE, POLLING, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return (Begin::claimed(key, cell), None),
                Err(DEAD) => return (Begin::Dead, None),
                Err(_) => yield_now(),
            }
        }
        (Begin::Busy, cache.put(key, cell))
    }

    /// Hands a claimed value back at the end of its poll; returns it instead when the task
    /// terminated during the poll, for the caller to drop (or the value of a cell the cache
    /// pushed out, if it was that cell's last reference).
    #[inline(always)]
    #[allow(clippy::inline_always)] // part of the task hooks' per-poll path (measured)
    #[allow(clippy::unused_self)] // a method of the store, as its other transitions are
    pub(crate) fn end_poll(&self, claim: Claim<K, T>, cache: &mut Cache<K, T>) -> Option<T> {
        if claim.ends() {
            return Self::end_ended(&claim.cell);
        }
        // The claim is the only writer of a `POLLING` state (see the module docs).
        claim.cell.state.store(IDLE, Ordering::Release);
        cache.put(claim.key, claim.cell)
    }

    #[cold]
    #[inline(never)]
    fn end_ended(cell: &Cell<T>) -> Option<T> {
        let value = cell.take();
        cell.state.store(DEAD, Ordering::Release);
        value
    }

    /// A claim of `value`, made for one poll only: [`end_poll`](Self::end_poll) returns it.
    #[allow(clippy::unused_self)] // a method of the store, as its other transitions are
    pub(crate) fn detached(&self, key: K, value: T) -> Claim<K, T> {
        Claim {
            key,
            cell: Arc::new(Cell::new(ENDED, value)),
        }
    }

    /// The task terminated during the poll that holds `claim`, on this thread: forgets its
    /// cell, and [`end_poll`](Self::end_poll) returns the value.
    pub(crate) fn terminate_claimed(&self, claim: &Claim<K, T>) {
        // Only this claim writes the state while it holds the value.
        claim.cell.state.store(ENDED, Ordering::Relaxed);
        let mut shard = self.shard(claim.key);
        if shard
            .get(&claim.key)
            .is_some_and(|filed| Arc::ptr_eq(filed, &claim.cell))
        {
            // Not the cell's last reference (the claim holds one): this drops no value.
            shard.remove(&claim.key);
        }
    }

    /// The task terminated outside a poll of this thread: forgets its cell; returns its value
    /// for the caller to drop, once a poll under way elsewhere has handed it back (at most
    /// `spins` yields later; past that, the value goes with the cell's last reference);
    /// `Err(())` when the store had no cell for the task.
    pub(crate) fn terminate(&self, key: K, spins: usize) -> Result<Option<T>, ()> {
        let cell = self.shard(key).remove(&key).ok_or(())?;
        Ok(cell.terminate(spins))
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
        assert!(matches!(store.terminate(1, 0), Ok(Some(Value(2, _)))));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(store.terminate(1, 0).is_err());
        let mut cache = Cache::new();
        let (begin, _) = store.begin_poll(1, &mut cache, 0, || Value(9, Arc::clone(&drops)));
        let Begin::Claimed(claim) = begin else {
            panic!("an unknown task gets a fresh value")
        };
        assert!(store.end_poll(claim, &mut cache).is_none());
        drop(store.terminate(1, 0));
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
    fn a_task_that_terminates_in_its_poll_is_dropped_by_its_poller() {
        let drops = Arc::new(AtomicUsize::new(0));
        let store = TestStore::new();
        let mut cache = Cache::new();
        let claim = spawn_and_claim(&store, &mut cache, &drops);
        store.terminate_claimed(&claim);
        assert!(store.terminate(1, 0).is_err(), "the cell is forgotten");
        let value = store.end_poll(claim, &mut cache);
        assert!(matches!(value, Some(Value(0, _))));
        drop(value);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        // A later poll finds nothing to claim.
        let (begin, _) = store.begin_poll(1, &mut cache, 0, || Value(9, Arc::clone(&drops)));
        assert!(matches!(begin, Begin::Claimed(_)), "an unknown task again");
    }

    #[test]
    fn a_termination_elsewhere_waits_for_the_poller_to_hand_the_value_back() {
        let drops = Arc::new(AtomicUsize::new(0));
        let store = TestStore::new();
        let mut cache = Cache::new();
        let claim = spawn_and_claim(&store, &mut cache, &drops);
        std::thread::scope(|scope| {
            let terminator = scope.spawn(|| store.terminate(1, usize::MAX));
            assert!(store.end_poll(claim, &mut cache).is_none());
            let value = terminator.join().unwrap();
            assert!(matches!(value, Ok(Some(Value(0, _)))));
        });
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        // One that gives up leaves the value to the cell's last reference, here a cache.
        let mut other = Cache::new();
        let claim = spawn_and_claim(&store, &mut other, &drops);
        assert!(matches!(store.terminate(1, 2), Ok(None)));
        assert!(store.end_poll(claim, &mut other).is_none());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        let released = other.clear();
        assert!(matches!(released[..], [Value(0, _)]));
        drop(released);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_thread_claims_a_cell_it_cached_unless_another_holds_it_and_a_detached_claim_ends() {
        let drops = Arc::new(AtomicUsize::new(0));
        let store = TestStore::new();
        let mut cache = Cache::new();
        assert!(
            store.claim_cached(1, &mut cache).is_none(),
            "nothing cached"
        );
        let claim = spawn_and_claim(&store, &mut cache, &drops);
        assert_eq!(*claim.key(), 1);
        assert!(store.end_poll(claim, &mut cache).is_none());
        let claim = store.claim_cached(1, &mut cache).expect("the cached cell");
        let mut other = Cache::new();
        let (Begin::Busy, None) = store.begin_poll(1, &mut other, 0, || unreachable!()) else {
            panic!("held by the first claim");
        };
        assert!(
            store.claim_cached(1, &mut other).is_none(),
            "held by the first claim"
        );
        assert!(store.end_poll(claim, &mut cache).is_none());
        assert!(
            store
                .claim_cached(1, &mut other)
                .is_some_and(|claim| { store.end_poll(claim, &mut other).is_none() })
        );
        // A value for one poll only comes back when the poll ends.
        let detached = store.detached(1, Value(5, Arc::clone(&drops)));
        assert!(matches!(
            store.end_poll(detached, &mut cache),
            Some(Value(5, _))
        ));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop((store, cache, other));
        assert_eq!(drops.load(Ordering::SeqCst), 2);
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
