//! What a map's root and its trie's nodes share: a reference count at the start of one
//! allocation that holds a header and an array after it, and how that allocation is made and
//! grown. Each keeps its own header and array; this is the counting and allocating under both.

use std::alloc::{Layout, alloc, handle_alloc_error, realloc};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

/// A reference count with `Arc`'s orderings, and one shortcut: a count of one seen by a holder
/// is final (no other holder is left to make another), so the last holder skips the atomic
/// read-modify-write when it lets go.
pub(super) struct Count(AtomicUsize);

impl Count {
    /// The count of a fresh allocation: its maker's.
    pub(super) const fn one() -> Count {
        Count(AtomicUsize::new(1))
    }

    /// Whether the caller is the only holder. Acquire, as `Arc::get_mut`: the other holders'
    /// last accesses happen before the caller's.
    #[inline]
    pub(super) fn is_unique(&self) -> bool {
        self.0.load(Ordering::Acquire) == 1
    }

    /// One more holder, made from a count the caller holds (Relaxed, as `Arc::clone`).
    #[inline]
    pub(super) fn increment(&self) {
        let old = self.0.fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Gives up the caller's count; true when it was the last, and the caller must tear the
    /// allocation down. Every other holder's use happens before that teardown: the load of a
    /// final one is Acquire, and a decrement is Release followed by an Acquire fence, as `Arc`
    /// does.
    #[inline]
    pub(super) fn release(&self) -> bool {
        if self.is_unique() {
            return true;
        }
        if self.0.fetch_sub(1, Ordering::Release) != 1 {
            return false;
        }
        fence(Ordering::Acquire);
        true
    }
}

/// A fresh allocation for `layout`, as a pointer to the header `H` it starts with; aborts as
/// `alloc` callers do when memory runs out.
///
/// # Safety
/// `layout` is not zero-sized, and starts with an `H` and has its alignment.
pub(super) unsafe fn allocate<H>(layout: Layout) -> NonNull<H> {
    // SAFETY: the caller's guarantee: the layout is not zero-sized.
    let ptr = unsafe { alloc(layout) };
    // Aligned for a header: the layout's alignment is the header's.
    #[allow(clippy::cast_ptr_alignment)]
    let ptr = ptr.cast::<H>();
    NonNull::new(ptr).unwrap_or_else(|| handle_alloc_error(layout))
}

/// `ptr`'s allocation moved to one of `new`'s size, its contents kept up to the smaller size.
///
/// # Safety
/// `ptr` was allocated with `old`, whose alignment `new` has; `new` is not zero-sized; nothing
/// points into the allocation (its bytes may move).
pub(super) unsafe fn reallocate<H>(ptr: NonNull<H>, old: Layout, new: Layout) -> NonNull<H> {
    // SAFETY: the caller's guarantees.
    let ptr = unsafe { realloc(ptr.as_ptr().cast(), old, new.size()) };
    // Aligned for a header: `realloc` keeps the layout's alignment.
    #[allow(clippy::cast_ptr_alignment)]
    let ptr = ptr.cast::<H>();
    NonNull::new(ptr).unwrap_or_else(|| handle_alloc_error(new))
}
