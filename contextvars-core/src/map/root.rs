//! The top of a map in one allocation: a reference count, the map's counts, the trie and the
//! delta's changes after them (see the module docs).
//!
//! The delta lives in the root's own allocation so that copying a shared root for a write, the
//! first write under a snapshot, allocates once, and a write to a key already in the delta
//! allocates nothing. Its room is exact: a copy gets room for the one change that made it, and a
//! root that no snapshot shares grows by one change at a time (a reallocation), so a snapshot
//! diverged by a few writes holds no spare room.

use std::alloc::{Layout, dealloc};
use std::ptr::NonNull;

use super::Delta;
use super::counted::{Count, allocate, reallocate};
use super::node::NodeRef;

/// The fields before the changes.
#[repr(C)]
struct Header {
    count: Count,
    len: usize,
    /// How many entries belong to variables declared `inherit = false`.
    local: usize,
    tree: NodeRef,
    /// How many changes follow the header, and how many fit in the allocation.
    delta_len: u32,
    delta_cap: u32,
}

/// A counted pointer to a root: one word.
pub(super) struct Root {
    ptr: NonNull<Header>,
}

// SAFETY: a root owns its trie and its changes, which are `Send + Sync` (entries hold
// `Send + Sync` values); its count is atomic, and it is written only through `&mut` when that
// count is one.
unsafe impl Send for Root {}
// SAFETY: as for `Send`: `&Root` only reads.
unsafe impl Sync for Root {}

/// Where the changes start in a root's allocation: after the header, aligned for a change.
const CHANGES_OFFSET: usize =
    std::mem::size_of::<Header>().next_multiple_of(std::mem::align_of::<Delta>());

/// The allocation of a root with room for `cap` changes.
fn layout(cap: u32) -> Layout {
    let changes = Layout::array::<Delta>(cap as usize).expect("a few changes");
    let (layout, offset) = Layout::new::<Header>()
        .extend(changes)
        .expect("a small allocation");
    debug_assert_eq!(offset, CHANGES_OFFSET);
    layout.pad_to_align()
}

impl Root {
    /// A root over `tree`, with no changes and room for `cap`.
    pub(super) fn new(tree: NodeRef, len: usize, local: usize, cap: u32) -> Root {
        let layout = layout(cap);
        // SAFETY: the layout holds the header first, so it is not zero-sized and is aligned for
        // one.
        let ptr = unsafe { allocate::<Header>(layout) };
        // SAFETY: freshly allocated for a header (and `cap` changes, left uninitialized).
        unsafe {
            ptr.as_ptr().write(Header {
                count: Count::one(),
                len,
                local,
                tree,
                delta_len: 0,
                delta_cap: cap,
            });
        }
        Root { ptr }
    }

    #[inline]
    fn header(&self) -> &Header {
        // SAFETY: the pointer is to a live root, which this holds a count of.
        unsafe { self.ptr.as_ref() }
    }

    /// The first change's place.
    #[inline]
    fn changes(&self) -> *mut Delta {
        // SAFETY: the changes start there in the allocation (`layout`), whatever its room.
        unsafe { self.ptr.as_ptr().byte_add(CHANGES_OFFSET).cast::<Delta>() }
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        self.header().len
    }

    #[inline]
    pub(super) fn local(&self) -> usize {
        self.header().local
    }

    #[inline]
    pub(super) fn tree(&self) -> &NodeRef {
        &self.header().tree
    }

    /// The changes kept beside the trie.
    #[inline]
    pub(super) fn delta(&self) -> &[Delta] {
        let len = self.header().delta_len as usize;
        // SAFETY: the first `delta_len` changes are initialized, and only `&mut self` changes
        // them.
        unsafe { std::slice::from_raw_parts(self.changes(), len) }
    }

    /// Whether both are the same root.
    pub(super) fn ptr_eq(&self, other: &Root) -> bool {
        self.ptr == other.ptr
    }

    /// Write access when no other map holds this root.
    #[inline]
    pub(super) fn get_mut(&mut self) -> Option<RootMut<'_>> {
        self.header()
            .count
            .is_unique()
            .then_some(RootMut { root: self })
    }

    /// Write access, copying the root first when another map holds it; a copy has room for its
    /// changes and `spare` more.
    pub(super) fn make_mut(&mut self, spare: u32) -> RootMut<'_> {
        if !self.header().count.is_unique() {
            let header = self.header();
            let copy = Root::new(
                header.tree.clone(),
                header.len,
                header.local,
                header.delta_len + spare,
            );
            for (index, change) in self.delta().iter().enumerate() {
                // SAFETY: the copy has room for every change of this root; the length follows
                // the writes, so a panicking clone leaves the copy consistent.
                unsafe {
                    copy.changes().add(index).write(change.clone());
                    (*copy.ptr.as_ptr()).delta_len += 1;
                }
            }
            *self = copy;
        }
        RootMut { root: self }
    }
}

impl Clone for Root {
    #[inline]
    fn clone(&self) -> Root {
        self.header().count.increment();
        Root { ptr: self.ptr }
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        // A snapshot dropped after the write that diverged from it, the common case, holds the
        // last count and skips the atomic read-modify-write (see `Count::release`).
        if !self.header().count.release() {
            return;
        }
        let cap = self.header().delta_cap;
        // SAFETY: the count reached zero, so this is the only access: the initialized changes
        // and the header are dropped once, then the allocation made by `layout(cap)` freed.
        unsafe {
            let changes = std::ptr::slice_from_raw_parts_mut(self.changes(), self.delta().len());
            std::ptr::drop_in_place(changes);
            std::ptr::drop_in_place(self.ptr.as_ptr());
            dealloc(self.ptr.as_ptr().cast(), layout(cap));
        }
    }
}

/// A root that no other map holds, open for writing.
pub(super) struct RootMut<'a> {
    root: &'a mut Root,
}

impl RootMut<'_> {
    #[inline]
    fn header(&mut self) -> &mut Header {
        // SAFETY: the count is one and `root` is borrowed mutably: no other access.
        unsafe { self.root.ptr.as_mut() }
    }

    #[inline]
    pub(super) fn len(&mut self) -> &mut usize {
        &mut self.header().len
    }

    #[inline]
    pub(super) fn local(&mut self) -> &mut usize {
        &mut self.header().local
    }

    #[inline]
    pub(super) fn tree(&mut self) -> &mut NodeRef {
        &mut self.header().tree
    }

    #[inline]
    pub(super) fn delta(&mut self) -> &mut [Delta] {
        let len = self.header().delta_len as usize;
        // SAFETY: the first `delta_len` changes are initialized; access is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.root.changes(), len) }
    }

    /// Appends `change`, growing the allocation by one change when it is full.
    pub(super) fn push(&mut self, change: Delta) {
        let (len, cap) = (self.header().delta_len, self.header().delta_cap);
        if len == cap {
            let (old, new) = (layout(cap), layout(cap + 1));
            // SAFETY: the allocation was made with `old`; `new` is not zero-sized and has its
            // alignment. Moving a root's bytes moves its fields, which nothing else points into
            // (this is the only holder).
            self.root.ptr = unsafe { reallocate(self.root.ptr, old, new) };
            self.header().delta_cap = cap + 1;
        }
        // SAFETY: there is room at `len`, which holds no change.
        unsafe { self.root.changes().add(len as usize).write(change) };
        self.header().delta_len = len + 1;
    }

    /// Takes out the change at `index`, moving the last into its place.
    pub(super) fn swap_remove(&mut self, index: usize) -> Delta {
        let delta = self.delta();
        let last = delta.len() - 1;
        delta.swap(index, last);
        self.header().delta_len -= 1;
        // SAFETY: the change at `last` was initialized and is no longer counted: read once.
        unsafe { self.root.changes().add(last).read() }
    }

    /// Takes out the last change.
    pub(super) fn pop(&mut self) -> Option<Delta> {
        let last = self.delta().len().checked_sub(1)?;
        self.header().delta_len -= 1;
        // SAFETY: as in `swap_remove`.
        Some(unsafe { self.root.changes().add(last).read() })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Entry, Meta, store};
    use super::*;

    fn bound(key: u64, value: u64) -> Delta {
        // SAFETY: the record is for `u64`.
        let value = unsafe { store(value, Meta::of::<u64>("root::tests", true)) };
        Delta::Bound(Entry { key, value })
    }

    #[test]
    fn changes_grow_copy_and_drop_with_their_root() {
        let mut root = Root::new(NodeRef::empty(), 0, 0, 0);
        for key in 1..=5 {
            root.get_mut().expect("unique").push(bound(key, key));
        }
        let snapshot = root.clone();
        assert!(root.get_mut().is_none());
        let mut copy = root.make_mut(1);
        copy.push(bound(6, 6));
        assert_eq!(copy.swap_remove(0).key(), 1);
        assert_eq!(copy.pop().map(|change| change.key()), Some(5));
        let keys: Vec<u64> = root.delta().iter().map(Delta::key).collect();
        assert_eq!(keys, [6, 2, 3, 4]);
        assert_eq!(snapshot.delta().len(), 5);
        assert!(!root.ptr_eq(&snapshot));
        drop(snapshot);
        assert!(root.get_mut().is_some());
    }
}
