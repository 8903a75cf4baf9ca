//! The current context of each OS thread, and the rules that keep it sound.
//!
//! Each thread owns one [`ContextData`] in a thread-local cell, its base context. Entering a
//! context ([`Entered`], what `Context::run` and every poll of a wrapped future do) points the
//! thread at that context's data instead, which the entering call holds by `&mut` until it
//! leaves. Every API call reaches the current one through [`with_current`], which hands out
//! `&mut ContextData` for a closure that must not call user code: no value is dropped, no
//! default factory runs and no user closure is called while that borrow is live. Values that a
//! write pushes out of the map come back as [`Displaced`], dropped after the borrow ends.
//!
//! Borrowing reads ([`read`], behind [`crate::ContextVar::with`]) hand user code a `&T` that
//! points into a value owned by the current map, then run that code with the map free to
//! change: a `with` closure may set other variables, enter other contexts or reset the one it
//! is reading. To keep the `&T` alive without a reference count per read, the thread counts
//! open borrows, and while any is open, a displaced value is parked in a per-thread list
//! instead of being dropped; the list is emptied when the last borrow closes.
//!
//! Reads are cached per thread, as CPython caches `ContextVar.get`: a few slots remember where
//! a key's value was found (or that it was not). Every change of the current context empties
//! them: every [`with_current`] (the only way to write the current map), every enter and leave
//! of a context, and the thread-exit cleanup. A filled slot is therefore exact, and a read that
//! hits one is a compare and a load, touching neither the map nor its delta. The pointer in a
//! slot stays valid while the slot is filled: the value it points to is owned by the current
//! map, and leaving the map takes a write.

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::companion::{self, Carrying};
use crate::map::{InlineValue, Map, Value, ValueRef};

/// The contents of a context: its identity and its bindings.
#[derive(Default)]
pub(crate) struct ContextData {
    /// Identity for token checks; 0 until first needed (see [`ContextData::id`]).
    id: u64,
    pub(crate) map: Map,
}

impl ContextData {
    pub(crate) const fn new() -> ContextData {
        ContextData {
            id: 0,
            map: Map::new(),
        }
    }

    pub(crate) fn with_map(map: Map) -> ContextData {
        ContextData { id: 0, map }
    }

    /// This context's identity, allocated on first use: contexts that never make a token never
    /// pay for one.
    pub(crate) fn id(&mut self) -> u64 {
        if self.id == 0 {
            self.id = next_context_id();
        }
        self.id
    }

    /// The identity if one was allocated, else 0 (which no token carries).
    pub(crate) fn id_if_any(&self) -> u64 {
        self.id
    }
}

struct State {
    /// The thread's own context: current whenever no [`Entered`] is active. Its values are
    /// dropped at thread exit by [`Cleanup`], not by `State`, which has no destructor.
    base: UnsafeCell<ManuallyDrop<ContextData>>,
    /// The context of the innermost active [`Entered`], or null for `base`.
    entered: Cell<*mut ContextData>,
    borrows: Cell<usize>,
    parked: UnsafeCell<ManuallyDrop<Vec<ValueRef>>>,
    ids: Cell<(u64, u64)>,
    /// Whether this thread's [`Cleanup`] is registered.
    cleanup: Cell<bool>,
    /// The read cache, indexed by the key's low bits (see the module docs): the keys, and
    /// what a read found for each, the value or null when the key is not bound. A slot whose
    /// key is [`crate::keys::NO_KEY`] is empty, whatever its value.
    cached_keys: Cell<[u64; CACHE_SLOTS]>,
    cached_values: [Cell<*const dyn Value>; CACHE_SLOTS],
    /// How many times the current context may have changed on this thread (see [`changes`]).
    changes: Cell<u64>,
}

const CACHE_SLOTS: usize = 4;

/// The value pointer of an unbound key.
const UNBOUND: *const dyn Value = std::ptr::null::<crate::map::Stored<()>>() as *const dyn Value;
#[allow(clippy::declare_interior_mutable_const)] // only ever copied into the initializer
const UNBOUND_CELL: Cell<*const dyn Value> = Cell::new(UNBOUND);

impl State {
    #[inline]
    fn current(&self) -> *mut ContextData {
        let entered = self.entered.get();
        if entered.is_null() {
            // `ManuallyDrop` is `repr(transparent)`.
            self.base.get().cast()
        } else {
            entered
        }
    }

    #[inline]
    fn cached_key(&self, index: usize) -> &Cell<u64> {
        let keys: &Cell<[u64]> = &self.cached_keys;
        &keys.as_slice_of_cells()[index]
    }

    /// Forgets every read cached so far (see the module docs): one store of every key at once.
    #[inline]
    fn changed(&self) {
        self.cached_keys.set([crate::keys::NO_KEY; CACHE_SLOTS]);
        self.changes.set(self.changes.get().wrapping_add(1));
    }
}

// `State` has no destructor, so it is never torn down: every access succeeds, also from
// destructors that run at thread exit (a value whose `Drop` sets, resets or reads a variable),
// and no access pays for a "still alive?" check.
thread_local! {
    static STATE: State = const {
        State {
            base: UnsafeCell::new(ManuallyDrop::new(ContextData::new())),
            entered: Cell::new(std::ptr::null_mut()),
            borrows: Cell::new(0),
            parked: UnsafeCell::new(ManuallyDrop::new(Vec::new())),
            ids: Cell::new((0, 0)),
            cleanup: Cell::new(false),
            cached_keys: Cell::new([crate::keys::NO_KEY; CACHE_SLOTS]),
            // Spelled out: a repeat expression of this `Cell` makes rustc 1.95 crash.
            cached_values: [UNBOUND_CELL, UNBOUND_CELL, UNBOUND_CELL, UNBOUND_CELL],
            changes: Cell::new(0),
        }
    };
    static CLEANUP: Cleanup = const { Cleanup };
}

/// Drops the values of a thread's base context when the thread exits.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        // A destructor may bind new values while this runs: take again until the context stays
        // empty, a few rounds at most (a value that rebinds forever is left behind).
        for _ in 0..16 {
            let (map, parked) = STATE.with(|state| {
                state.changed();
                // SAFETY: no `Entered` is active at thread exit, and as in `with_current`, no
                // other reference into the state is live while this one is.
                let base = unsafe { &mut *state.current() };
                // SAFETY: as for `base`; `parked` is a separate cell of the state.
                let parked = unsafe { &mut *state.parked.get() };
                (std::mem::take(&mut base.map), std::mem::take(&mut **parked))
            });
            if map.len() == 0 && parked.is_empty() {
                break;
            }
            // Dropped with no reference into the state live: may run user code, which may use
            // the (still valid) state. A panic out of a thread-local's destructor aborts the
            // process, so each value is dropped on its own and a panicking one costs only
            // itself (the panic hook has reported it).
            drop(drop_map_each(map));
            drop(drop_each(parked));
        }
    }
}

#[cold]
#[inline(never)]
fn register_cleanup(state: &State) {
    state.cleanup.set(true);
    // Fails only once this thread's cleanup has run: a value bound after that is not dropped.
    let _ = CLEANUP.try_with(|_| ());
}

/// Runs `f` on the current context of this thread.
///
/// `f` must not call user code (drop values, run factories or closures): the `&mut` it gets is
/// the only access to the thread's context while it runs.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&mut ContextData) -> R) -> R {
    STATE.with(|state| {
        if !state.cleanup.get() {
            register_cleanup(state);
        }
        state.changed();
        // SAFETY: `current()` is either the thread's own `base` or the data of a context whose
        // `&mut` an active `Entered` holds for this thread (see `Entered`). Every access goes
        // through this function, `read` or `Cleanup`, on this thread only, and none of them lets
        // its reference escape or calls user code while holding it (the contract above), so
        // this is the only live reference.
        f(unsafe { &mut *state.current() })
    })
}

/// Runs `f` on a shared borrow of the current context of this thread, for reads that must see
/// the whole context (a copy, a count). Same contract as [`with_current`]; unlike it, this
/// leaves the read cache alone.
#[inline]
pub(crate) fn with_current_ref<R>(f: impl FnOnce(&ContextData) -> R) -> R {
    // SAFETY: as in `with_current`; a shared reference is no more than the `&mut` it allows.
    STATE.with(|state| f(unsafe { &*state.current() }))
}

/// A count that moves on whenever the current context of this thread may have changed: every
/// write, every enter and leave of a context. While it stays the same, nothing changed, so a
/// caller that compares it skips a closer look.
#[inline]
pub(crate) fn changes() -> u64 {
    STATE.with(|state| state.changes.get())
}

/// Whether no context is entered on this thread, so that writes land in the thread's own.
pub(crate) fn in_thread_context() -> bool {
    STATE.with(|state| state.entered.get().is_null())
}

/// Makes `data` the thread's current context until dropped, then restores the previous one.
///
/// Entering stores a pointer, so it costs the same at any size and touches no reference count.
/// The `&mut` borrow the guard holds keeps `data` in place and out of everyone else's reach
/// while the thread reaches it through that pointer.
///
/// The [companion](crate::companion) states the context carries are entered once the context
/// is current and left while it still is; a context that carries none pays one branch.
pub struct Entered<'a> {
    previous: *mut ContextData,
    carried: Option<&'a [Carrying]>,
    _data: PhantomData<&'a mut ContextData>,
}

impl<'a> Entered<'a> {
    #[inline]
    pub(crate) fn new(data: &'a mut ContextData, carried: Option<&'a [Carrying]>) -> Entered<'a> {
        let data: *mut ContextData = data;
        let previous = STATE.with(|state| {
            state.changed();
            state.entered.replace(data)
        });
        match carried {
            None => Entered {
                previous,
                carried: None,
                _data: PhantomData,
            },
            Some(carried) => Entered::enter_companions(previous, carried),
        }
    }

    /// The rest of [`new`](Self::new) for a context that carries companion states.
    /// [`Context::run`](crate::Context::run) takes this path in a branch of its own, decided
    /// before entering, so that its common path has no call that may unwind.
    #[allow(clippy::inline_always)] // measured: left to the inliner, a poll called it out of line
    #[inline(always)]
    fn enter_companions(previous: *mut ContextData, carried: &'a [Carrying]) -> Entered<'a> {
        let mut entered = Entered {
            previous,
            carried: None,
            _data: PhantomData,
        };
        // A panic in a companion drops `entered`, which then leaves only the context.
        companion::enter_all(carried);
        entered.carried = Some(carried);
        entered
    }
}

impl Drop for Entered<'_> {
    #[inline]
    fn drop(&mut self) {
        match self.carried {
            None => restore(self.previous),
            Some(carried) => leave_companions(self.previous, carried),
        }
    }
}

/// Leaves the companion states of a context, then restores the previous context, also if a
/// companion panics.
#[inline]
fn leave_companions(previous: *mut ContextData, carried: &[Carrying]) {
    let _restore = Restore(previous);
    companion::exit_all(carried);
}

/// Restores the thread's previous context when dropped.
struct Restore(*mut ContextData);

impl Drop for Restore {
    #[inline]
    fn drop(&mut self) {
        restore(self.0);
    }
}

#[inline]
fn restore(previous: *mut ContextData) {
    // Guards drop in reverse order of creation on their thread (they are not `Send`, and
    // each lives on the stack of the call that entered), so this restores exactly the
    // context that was current before.
    STATE.with(|state| {
        state.changed();
        state.entered.set(previous);
    });
}

/// Calls `f` with a borrow of the value bound to `key` in the current context, or with `None`.
///
/// While `f` runs, values that leave the map are parked rather than dropped (see the module
/// docs), so the borrow stays valid whatever `f` does to the context. One thread-local access.
#[inline]
pub(crate) fn read<R>(key: u64, f: impl FnOnce(Option<&dyn Value>) -> R) -> R {
    struct Release<'a>(&'a State);

    impl Drop for Release<'_> {
        #[inline]
        fn drop(&mut self) {
            let left = self.0.borrows.get() - 1;
            self.0.borrows.set(left);
            if left == 0 {
                drop_parked(self.0);
            }
        }
    }

    /// Drops the values parked while borrows were open.
    #[inline]
    fn drop_parked(state: &State) {
        // SAFETY: `parked` is only touched here, in `dispose` and in `Cleanup`, on this thread,
        // and none of them calls user code while holding the reference.
        let parked = unsafe { &mut *state.parked.get() };
        if !parked.is_empty() {
            drop_all(std::mem::take(&mut **parked));
        }
    }

    /// Dropped with no reference into the thread state live: may run user code. Each value on
    /// its own, so that two panicking ones, or one while a `with` closure's panic unwinds,
    /// never make a double panic (an abort): the first panic goes on unless one is unwinding.
    #[cold]
    #[inline(never)]
    fn drop_all(values: Vec<ValueRef>) {
        if let Some(panic) = drop_each(values) {
            if !std::thread::panicking() {
                std::panic::resume_unwind(panic);
            }
        }
    }

    STATE.with(|state| {
        let value = find(state, key);
        if value.is_null() {
            return f(None);
        }
        // SAFETY: a non-null pointer from `find` points to a value of the current map.
        if unsafe { (*value).is_inline() } {
            // It lives in its map entry, which a write may move: `f` gets a copy.
            // SAFETY: an inline value is an `InlineValue` (so the pointer is aligned for one),
            // which is `Copy`.
            #[allow(clippy::cast_ptr_alignment)]
            let copy = unsafe { *value.cast::<InlineValue>() };
            return f(Some(&copy));
        }
        state.borrows.set(state.borrows.get() + 1);
        let _release = Release(state);
        // SAFETY: the value is owned by the current map; while `borrows` is non-zero a value
        // that leaves the map is parked, not dropped, so it outlives `f`.
        f(Some(unsafe { &*value }))
    })
}

/// Where the current context's value for `key` is, or null: from the read cache when it is
/// still exact, else from the map (and then cached). Valid until the current context changes.
#[inline]
fn find(state: &State, key: u64) -> *const dyn Value {
    /// The uncached read; fills slot `index`.
    #[cold]
    #[inline(never)]
    fn lookup(state: &State, key: u64, index: usize) -> *const dyn Value {
        // SAFETY: as in `with_current`; the shared reference ends at the end of this statement.
        let value = match unsafe { &*state.current() }.map.get(key) {
            Some(entry) => std::ptr::from_ref::<dyn Value>(&*entry.value),
            None => UNBOUND,
        };
        state.cached_key(index).set(key);
        state.cached_values[index].set(value);
        value
    }

    // The key's low bits are uniformly spread (see `crate::keys`).
    #[allow(clippy::cast_possible_truncation)]
    let index = key as usize % CACHE_SLOTS;
    if state.cached_key(index).get() == key {
        state.cached_values[index].get()
    } else {
        lookup(state, key, index)
    }
}

/// A copy of the value of type `T` bound to `key` in the current context, for types whose copy
/// runs no user code (see [`crate::map::is_plain`]), so no borrow has to be counted.
///
/// # Safety
/// `key` must be the key of a variable of type `T`, and `T` must be plain.
#[inline]
pub(crate) unsafe fn copy_out<T: 'static>(key: u64) -> Option<T> {
    STATE.with(|state| {
        let value = find(state, key);
        // SAFETY: a non-null pointer from `find` points to the current map's value for `key`,
        // which is a `T` (the caller's guarantee); nothing runs between here and the copy, and a
        // plain `T` is `Copy`, so a bitwise read is its clone.
        (!value.is_null()).then(|| unsafe { std::ptr::read((*value).downcast_unchecked::<T>()) })
    })
}

/// Drops each value on its own, catching a panic of its `Drop`, and returns the first panic:
/// one panicking value costs only itself, never a double panic.
pub(crate) fn drop_each(values: impl IntoIterator<Item = ValueRef>) -> Option<Box<dyn Any + Send>> {
    let mut first = None;
    for value in values {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| drop(value))) {
            first.get_or_insert(panic);
        }
    }
    first
}

/// Drops `map` and then, each on its own (see [`drop_each`]), the values it held that nothing
/// else holds; returns the first panic of their `Drop`.
pub(crate) fn drop_map_each(map: Map) -> Option<Box<dyn Any + Send>> {
    if map.len() == 0 {
        return None;
    }
    let values: Vec<ValueRef> = map
        .entries()
        .into_iter()
        .map(|entry| ValueRef::clone(&entry.value))
        .collect();
    // No value's count reaches zero here: `values` holds one of each.
    drop(map);
    drop_each(values)
}

/// Drops values that left the current map, or parks them while a borrow may point into one.
/// One thread-local access for any number of values.
pub(crate) fn dispose<I: IntoIterator<Item = ValueRef>>(values: I) {
    let rest = STATE.with(|state| {
        if state.borrows.get() == 0 {
            return Some(values);
        }
        // SAFETY: see `read`'s `drop_parked`.
        unsafe { &mut *state.parked.get() }.extend(values);
        None
    });
    // Dropped with no reference into the thread state live: may run user code.
    drop(rest);
}

/// A value pushed out of the current map by a write: dropped through [`dispose`].
pub(crate) struct Displaced(Option<ValueRef>);

impl Displaced {
    pub(crate) fn new(value: Option<ValueRef>) -> Displaced {
        Displaced(value)
    }

    pub(crate) fn take(&mut self) -> Option<ValueRef> {
        self.0.take()
    }

    pub(crate) fn get(&self) -> Option<&ValueRef> {
        self.0.as_ref()
    }
}

impl Drop for Displaced {
    fn drop(&mut self) {
        // An inline value has nothing to drop.
        if self.0.as_ref().is_some_and(ValueRef::is_shared) {
            dispose(self.0.take());
        }
    }
}

static NEXT_CONTEXT_ID: AtomicU64 = AtomicU64::new(1);
const ID_BLOCK: u64 = 1024;

/// A process-unique, non-zero context identity. Threads take blocks of ids so that making one
/// is usually a thread-local increment, not an atomic operation.
fn next_context_id() -> u64 {
    STATE.with(|state| {
        let (mut next, mut end) = state.ids.get();
        if next == end {
            next = NEXT_CONTEXT_ID.fetch_add(ID_BLOCK, Ordering::Relaxed);
            end = next + ID_BLOCK;
        }
        state.ids.set((next + 1, end));
        next
    })
}
