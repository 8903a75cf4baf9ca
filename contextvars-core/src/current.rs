//! The current context of each OS thread, and the rules that keep it sound.
//!
//! Each thread owns one [`ContextData`] in a thread-local cell. Every API call reaches it
//! through [`with_current`], which hands out `&mut ContextData` for a closure that must not call
//! user code: no value is dropped, no default factory runs and no user closure is called while
//! that borrow is live. Values that a write pushes out of the map come back as [`Displaced`],
//! dropped after the borrow ends.
//!
//! Borrowing reads ([`crate::ContextVar::with`]) hand user code a `&T` that points into a value
//! owned by the current map, then run that code with the map free to change: a `with` closure
//! may set other variables, enter other contexts or reset the one it is reading. To keep the
//! `&T` alive without a reference count per read, the thread counts open borrows, and while any
//! is open, a displaced value is parked in a per-thread list instead of being dropped; the list
//! is emptied when the last borrow closes.

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::map::{Map, Value, ValueRef};

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
    current: UnsafeCell<ContextData>,
    borrows: Cell<usize>,
    parked: UnsafeCell<Vec<ValueRef>>,
    ids: Cell<(u64, u64)>,
}

thread_local! {
    static STATE: State = const {
        State {
            current: UnsafeCell::new(ContextData::new()),
            borrows: Cell::new(0),
            parked: UnsafeCell::new(Vec::new()),
            ids: Cell::new((0, 0)),
        }
    };
}

/// Runs `f` on the current context of this thread.
///
/// `f` must not call user code (drop values, run factories or closures): the `&mut` it gets is
/// the only access to the thread's context while it runs.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&mut ContextData) -> R) -> R {
    STATE.with(|state| {
        // SAFETY: the only other accesses to `current` are through this function and
        // `BorrowGuard`, on this thread only, and none of them lets its reference escape or calls
        // user code while holding it (the contract above), so this is the only live reference.
        f(unsafe { &mut *state.current.get() })
    })
}

/// Like [`with_current`], or `None` once the thread's storage is gone (in destructors that
/// run at thread exit).
pub(crate) fn try_with_current<R>(f: impl FnOnce(&mut ContextData) -> R) -> Option<R> {
    // SAFETY: as in `with_current`.
    STATE
        .try_with(|state| f(unsafe { &mut *state.current.get() }))
        .ok()
}

/// A read of the current context that hands user code a borrow of a stored value.
///
/// While a guard is alive, displaced values are parked, so a `&T` found through the map stays
/// valid even if user code changes the map meanwhile.
pub(crate) struct BorrowGuard(());

impl Drop for BorrowGuard {
    #[inline]
    fn drop(&mut self) {
        let parked = STATE.try_with(|state| {
            let left = state.borrows.get() - 1;
            state.borrows.set(left);
            // SAFETY: `parked` is only touched here and in `dispose`, on this thread, neither of
            // which calls user code while holding the reference.
            let parked = unsafe { &mut *state.parked.get() };
            (left == 0 && !parked.is_empty()).then(|| std::mem::take(parked))
        });
        // Dropped here, with no borrow of the thread state live: values may run user code.
        drop(parked);
    }
}

/// Looks `key` up in the current context and, when bound, opens a borrow and returns a pointer
/// to its value, valid until the guard is dropped. One thread-local access for both.
#[inline]
///
/// Once the thread's storage is gone (a value's destructor reading a variable at thread exit),
/// nothing is bound and reads fall back to the default.
pub(crate) fn find(key: u64) -> Option<(BorrowGuard, *const dyn Value)> {
    STATE
        .try_with(|state| {
            // SAFETY: as in `with_current`; the reference ends before this closure returns.
            let current = unsafe { &*state.current.get() };
            let value: *const dyn Value = std::sync::Arc::as_ptr(&current.map.get(key)?.value);
            state.borrows.set(state.borrows.get() + 1);
            Some((BorrowGuard(()), value))
        })
        .ok()
        .flatten()
}

/// Drops a value that left the current map, or parks it while a borrow may point into it.
pub(crate) fn dispose(value: ValueRef) {
    let rest = STATE.try_with(|state| {
        if state.borrows.get() == 0 {
            return Some(value);
        }
        // SAFETY: see `BorrowGuard::drop`.
        unsafe { &mut *state.parked.get() }.push(value);
        None
    });
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
        if let Some(value) = self.0.take() {
            dispose(value);
        }
    }
}

/// Swaps `data` with the thread's current context.
pub(crate) fn swap_current(data: &mut ContextData) {
    with_current(|current| std::mem::swap(current, data));
}

static NEXT_CONTEXT_ID: AtomicU64 = AtomicU64::new(1);
const ID_BLOCK: u64 = 1024;

/// A process-unique, non-zero context identity. Threads take blocks of ids so that making one
/// is usually a thread-local increment, not an atomic operation.
fn next_context_id() -> u64 {
    let from_block = STATE.try_with(|state| {
        let (mut next, mut end) = state.ids.get();
        if next == end {
            next = NEXT_CONTEXT_ID.fetch_add(ID_BLOCK, Ordering::Relaxed);
            end = next + ID_BLOCK;
        }
        state.ids.set((next + 1, end));
        next
    });
    from_block.unwrap_or_else(|_| NEXT_CONTEXT_ID.fetch_add(1, Ordering::Relaxed))
}

static NEXT_VAR_KEY: AtomicU64 = AtomicU64::new(1);

/// A process-unique, non-zero variable key, spread over all 64 bits.
///
/// The counter goes through the splitmix64 finalizer, a bijection on `u64`, so distinct counter
/// values give distinct keys and the map can use keys as their own hashes (see `map.rs`).
pub(crate) fn next_var_key() -> u64 {
    loop {
        let mut z = NEXT_VAR_KEY.fetch_add(1, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        if z != 0 {
            return z;
        }
    }
}
