//! A global allocator that counts live bytes, per thread (so tests running in parallel in one
//! binary do not disturb each other's figures) and for the whole process (a server, its client
//! and their runtime). A test binary installs it with
//! `#[global_allocator] static ALLOCATOR: Counting = Counting;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};

/// The counting allocator: `System` with bookkeeping.
pub struct Counting;

thread_local! {
    static THREAD_LIVE: Cell<isize> = const { Cell::new(0) };
}

static PROCESS_LIVE: AtomicIsize = AtomicIsize::new(0);

fn account(delta: isize) {
    PROCESS_LIVE.fetch_add(delta, Ordering::Relaxed);
    let _ = THREAD_LIVE.try_with(|live| live.set(live.get() + delta));
}

/// A size as a signed delta. `Layout` sizes never exceed `isize::MAX`.
#[allow(clippy::cast_possible_wrap)]
fn signed(size: usize) -> isize {
    size as isize
}

// SAFETY: every method forwards to `System` with the same arguments; the bookkeeping is an
// atomic add and a const-initialised thread-local `Cell`, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        account(signed(layout.size()));
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        account(signed(layout.size()));
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(-signed(layout.size()));
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        account(signed(new_size) - signed(layout.size()));
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Bytes allocated and not yet freed by this thread (frees of memory other threads allocated
/// count against the freeing thread).
pub fn live_bytes() -> isize {
    THREAD_LIVE.with(Cell::get)
}

/// Bytes allocated and not yet freed by the whole process.
pub fn process_live_bytes() -> isize {
    PROCESS_LIVE.load(Ordering::Relaxed)
}
