//! The trie's nodes: one kind, a position table and the slots, in one counted allocation (see
//! the module docs).
//!
//! A node is a header (the reference count, the 32-byte position table, the number of slots and
//! the room for them) with its slots right after it, so a node costs one allocation and no
//! vector header. A node that no other holds grows in place by reallocating, a few slots at a
//! time; a copy, made for a write under a snapshot, has exactly the room its slots take.

use std::alloc::{Layout, dealloc};
use std::ops::Deref;
use std::ptr::NonNull;

use super::counted::{Count, allocate, reallocate};
use super::{Entry, ValueRef};

const BITS: u32 = 5;
const MASK: u64 = (1 << BITS) - 1;
/// The room of a fresh map's top node, in slots: a fresh context's first few binds do not
/// reallocate it.
const FIRST_ROOM: u8 = 4;
/// The shift of the deepest level: it sees the top four bits of the key.
const MAX_SHIFT: u32 = 60;

/// No third variant: the entry's non-null record pointer is the niche that tells the two
/// apart, so a slot is no bigger than an entry.
#[derive(Clone)]
enum Slot {
    Entry(Entry),
    Child(NodeRef),
}

/// The fields before the slots.
#[repr(C)]
struct Header {
    count: Count,
    /// For each of the level's 32 positions, 1 + the index of its slot, or 0 when empty.
    positions: [u8; 32],
    /// How many slots follow the header (at most 32), and how many fit in the allocation.
    len: u8,
    cap: u8,
}

/// A counted pointer to a node: one word.
pub(super) struct NodeRef {
    ptr: NonNull<Header>,
}

// SAFETY: a node owns its slots, which are `Send + Sync` (entries hold `Send + Sync` values,
// children are nodes); its count is atomic, and it is written only through `NodeMut`, made when
// that count is one.
unsafe impl Send for NodeRef {}
// SAFETY: as for `Send`: `&NodeRef` only reads.
unsafe impl Sync for NodeRef {}

/// Where the slots start in a node's allocation: after the header, aligned for a slot.
const SLOTS_OFFSET: usize =
    std::mem::size_of::<Header>().next_multiple_of(std::mem::align_of::<Slot>());

/// The allocation of a node with room for `cap` slots.
fn layout(cap: u8) -> Layout {
    let slots = Layout::array::<Slot>(usize::from(cap)).expect("at most 32 slots");
    let (layout, offset) = Layout::new::<Header>()
        .extend(slots)
        .expect("a small allocation");
    debug_assert_eq!(offset, SLOTS_OFFSET);
    layout.pad_to_align()
}

/// The room a node that holds `len` slots grows to when it is full: about half as much again,
/// at most the 32 positions.
fn grown(len: u8) -> u8 {
    (len + len / 2).clamp(len + 1, 32)
}

/// The position of `key` at the level that starts at `shift`.
#[inline]
fn position(key: u64, shift: u32) -> usize {
    // The mask keeps the value below 32.
    #[allow(clippy::cast_possible_truncation)]
    let position = ((key >> shift) & MASK) as usize;
    position
}

/// The slots a node needs for two keys that agree below `shift`: one child when they share a
/// position there, else one entry each.
fn pair_room(a: u64, b: u64, shift: u32) -> u8 {
    if position(a, shift) == position(b, shift) {
        1
    } else {
        2
    }
}

impl NodeRef {
    /// An empty node with room for `cap` slots.
    fn with_room(cap: u8) -> NodeRef {
        let layout = layout(cap);
        // SAFETY: the layout holds the header first, so it is not zero-sized and is aligned for
        // one.
        let ptr = unsafe { allocate::<Header>(layout) };
        // SAFETY: freshly allocated for a header (and `cap` slots, left uninitialized).
        unsafe {
            ptr.as_ptr().write(Header {
                count: Count::one(),
                positions: [0; 32],
                len: 0,
                cap,
            });
        }
        NodeRef { ptr }
    }

    /// An empty node.
    #[cfg(test)]
    pub(super) fn empty() -> NodeRef {
        NodeRef::with_room(0)
    }

    /// A top node holding one entry, with room for [`FIRST_ROOM`].
    pub(super) fn single(entry: Entry) -> NodeRef {
        let mut node = NodeRef::with_room(FIRST_ROOM);
        NodeRef::get_mut(&mut node)
            .expect("made just now")
            .push(position(entry.key, 0), Slot::Entry(entry));
        node
    }

    #[inline]
    fn header(&self) -> &Header {
        // SAFETY: the pointer is to a live node, which this holds a count of.
        unsafe { self.ptr.as_ref() }
    }

    /// The first slot's place.
    #[inline]
    fn slots_ptr(&self) -> *mut Slot {
        // SAFETY: the slots start there in the allocation (`layout`), whatever its room.
        unsafe { self.ptr.as_ptr().byte_add(SLOTS_OFFSET).cast::<Slot>() }
    }

    #[inline]
    fn slots(&self) -> &[Slot] {
        // SAFETY: the first `len` slots are initialized, and only a `NodeMut`, which borrows
        // this mutably, changes them.
        unsafe { std::slice::from_raw_parts(self.slots_ptr(), usize::from(self.header().len)) }
    }

    #[inline]
    fn is_unique(&self) -> bool {
        self.header().count.is_unique()
    }

    /// Write access when no other node or root holds this node.
    #[inline]
    pub(super) fn get_mut(this: &mut NodeRef) -> Option<NodeMut<'_>> {
        this.is_unique().then_some(NodeMut { node: this })
    }

    /// Write access, copying the node first when another holds it; a copy has no spare room.
    pub(super) fn make_mut(this: &mut NodeRef) -> NodeMut<'_> {
        if !this.is_unique() {
            let copy = NodeRef::with_room(this.header().len);
            for (index, slot) in this.slots().iter().enumerate() {
                // SAFETY: the copy has room for every slot of this node and nothing else
                // accesses it; its length follows the writes, so a panicking clone leaves it
                // consistent.
                unsafe {
                    copy.slots_ptr().add(index).write(slot.clone());
                    (*copy.ptr.as_ptr()).len += 1;
                }
            }
            // SAFETY: as above; the table is plain bytes.
            unsafe { (*copy.ptr.as_ptr()).positions = this.header().positions };
            *this = copy;
        }
        NodeMut { node: this }
    }

    #[inline]
    fn slot(&self, key: u64, shift: u32) -> Option<usize> {
        match self.header().positions[position(key, shift)] {
            0 => None,
            slot => Some(usize::from(slot) - 1),
        }
    }

    #[inline]
    pub(super) fn get(&self, key: u64) -> Option<&Entry> {
        let mut node = self;
        let mut shift = 0;
        loop {
            match &node.slots()[node.slot(key, shift)?] {
                Slot::Entry(entry) => return (entry.key == key).then_some(entry),
                Slot::Child(child) => {
                    node = child;
                    shift += BITS;
                }
            }
        }
    }

    /// Whether every node below this one on `key`'s path is owned by this node alone, so a
    /// write there copies nothing.
    pub(super) fn path_is_unique(&self, key: u64) -> bool {
        let mut node = self;
        let mut shift = 0;
        loop {
            let Some(index) = node.slot(key, shift) else {
                return true;
            };
            match &node.slots()[index] {
                Slot::Child(child) if child.is_unique() => {
                    node = child;
                    shift += BITS;
                }
                Slot::Child(_) => return false,
                Slot::Entry(_) => return true,
            }
        }
    }

    pub(super) fn for_each<'a>(&'a self, f: &mut dyn FnMut(&'a Entry)) {
        for slot in self.slots() {
            match slot {
                Slot::Entry(entry) => f(entry),
                Slot::Child(child) => child.for_each(f),
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.header().len == 0
    }
}

impl Clone for NodeRef {
    #[inline]
    fn clone(&self) -> NodeRef {
        self.header().count.increment();
        NodeRef { ptr: self.ptr }
    }
}

impl Drop for NodeRef {
    #[inline]
    fn drop(&mut self) {
        // A node this holder owns alone skips the atomic read-modify-write (`Count::release`).
        if self.header().count.release() {
            self.drop_last();
        }
    }
}

impl NodeRef {
    #[inline(never)]
    fn drop_last(&mut self) {
        let (len, cap) = (self.header().len, self.header().cap);
        // SAFETY: the count reached zero, so this is the only access: the initialized slots are
        // dropped once (the header holds nothing to drop), then the allocation made by
        // `layout(cap)` freed.
        unsafe {
            let slots = std::ptr::slice_from_raw_parts_mut(self.slots_ptr(), usize::from(len));
            std::ptr::drop_in_place(slots);
            dealloc(self.ptr.as_ptr().cast(), layout(cap));
        }
    }
}

/// A node that no other node or root holds, open for writing.
pub(super) struct NodeMut<'a> {
    node: &'a mut NodeRef,
}

impl Deref for NodeMut<'_> {
    type Target = NodeRef;

    #[inline]
    fn deref(&self) -> &NodeRef {
        self.node
    }
}

impl<'a> NodeMut<'a> {
    #[inline]
    fn header(&mut self) -> &mut Header {
        // SAFETY: the count is one and `node` is borrowed mutably: no other access.
        unsafe { self.node.ptr.as_mut() }
    }

    #[inline]
    fn slots_mut(&mut self) -> &mut [Slot] {
        let len = usize::from(self.header().len);
        // SAFETY: the first `len` slots are initialized; access is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.node.slots_ptr(), len) }
    }

    #[inline]
    fn into_slots(self) -> &'a mut [Slot] {
        let len = usize::from(self.node.header().len);
        // SAFETY: as in `slots_mut`, for as long as the node is borrowed.
        unsafe { std::slice::from_raw_parts_mut(self.node.slots_ptr(), len) }
    }

    /// Adds `slot` at `position`, which must be empty, growing the allocation when it is full.
    fn push(&mut self, position: usize, slot: Slot) {
        let (len, cap) = (self.header().len, self.header().cap);
        if len == cap {
            let new_cap = grown(cap);
            let (old, new) = (layout(cap), layout(new_cap));
            // SAFETY: the allocation was made with `old`; `new` is not zero-sized and has its
            // alignment. Moving a node's bytes moves its slots, which nothing points into (this
            // is the only holder, and children are pointed to, not inside).
            self.node.ptr = unsafe { reallocate(self.node.ptr, old, new) };
            self.header().cap = new_cap;
        }
        // SAFETY: there is room at `len`, which holds no slot.
        unsafe { self.node.slots_ptr().add(usize::from(len)).write(slot) };
        let header = self.header();
        header.len = len + 1;
        header.positions[position] = len + 1;
    }

    /// Takes out the last slot, whose position the caller clears or reuses.
    fn pop(&mut self) -> Slot {
        let last = self.header().len.checked_sub(1).expect("a slot to pop");
        self.header().len = last;
        // SAFETY: the slot at `last` was initialized and is no longer counted: read once.
        unsafe { self.node.slots_ptr().add(usize::from(last)).read() }
    }

    /// Fills this empty node, made with [`pair_room`]'s room, with two entries whose keys agree
    /// below `shift`.
    fn fill_pair(&mut self, a: Entry, b: Entry, shift: u32) {
        debug_assert!(
            shift <= MAX_SHIFT,
            "distinct keys must differ at some level"
        );
        let (position_a, position_b) = (position(a.key, shift), position(b.key, shift));
        if position_a == position_b {
            let mut child = NodeRef::with_room(pair_room(a.key, b.key, shift + BITS));
            NodeRef::get_mut(&mut child)
                .expect("made just now")
                .fill_pair(a, b, shift + BITS);
            self.push(position_a, Slot::Child(child));
            return;
        }
        self.push(position_a, Slot::Entry(a));
        self.push(position_b, Slot::Entry(b));
    }

    /// Rebinds `key`, already bound in this trie, to `value` in place when no node on its path
    /// is shared: the common write, with nothing copied and no entry moved. Gives `value` back
    /// when the key is unbound or a node on the way is shared.
    #[allow(clippy::inline_always)] // measured: out of line, its results went through memory
    #[inline(always)]
    pub(super) fn replace_unique(self, key: u64, value: ValueRef) -> Result<ValueRef, ValueRef> {
        let mut node = self;
        let mut shift = 0;
        loop {
            let Some(index) = node.slot(key, shift) else {
                return Err(value);
            };
            match &mut node.into_slots()[index] {
                // The same record, so the map's count of local entries stays right (a
                // variable's record changes only if its `inherit` does after a set).
                Slot::Entry(entry)
                    if entry.key == key && std::ptr::eq(entry.meta(), value.meta()) =>
                {
                    return Ok(std::mem::replace(&mut entry.value, value));
                }
                Slot::Child(child) => match NodeRef::get_mut(child) {
                    Some(child) => {
                        node = child;
                        shift += BITS;
                    }
                    None => return Err(value),
                },
                Slot::Entry(_) => return Err(value),
            }
        }
    }

    /// Binds `entry.key`, copying the shared nodes on its path; returns the value it replaces.
    pub(super) fn insert(&mut self, entry: Entry) -> Option<ValueRef> {
        self.insert_at(entry, 0)
    }

    fn insert_at(&mut self, entry: Entry, shift: u32) -> Option<ValueRef> {
        let Some(index) = self.slot(entry.key, shift) else {
            self.push(position(entry.key, shift), Slot::Entry(entry));
            return None;
        };
        let slot = &mut self.slots_mut()[index];
        match slot {
            Slot::Entry(existing) if existing.key == entry.key => {
                Some(std::mem::replace(&mut existing.value, entry.value))
            }
            Slot::Entry(existing) => {
                // The two entries move into a new child, put in the slot first so that the
                // entry here can be moved out of it.
                let room = pair_room(existing.key, entry.key, shift + BITS);
                let Slot::Entry(existing) =
                    std::mem::replace(slot, Slot::Child(NodeRef::with_room(room)))
                else {
                    unreachable!()
                };
                let Slot::Child(child) = slot else {
                    unreachable!()
                };
                NodeRef::get_mut(child).expect("made just now").fill_pair(
                    existing,
                    entry,
                    shift + BITS,
                );
                None
            }
            Slot::Child(child) => NodeRef::make_mut(child).insert_at(entry, shift + BITS),
        }
    }

    /// Unbinds `key`, which must be present, copying the shared nodes on its path; returns its
    /// value.
    pub(super) fn remove(&mut self, key: u64) -> ValueRef {
        self.remove_at(key, 0)
    }

    fn remove_at(&mut self, key: u64, shift: u32) -> ValueRef {
        let index = self.slot(key, shift).expect("a bound key has a slot");
        let slots = self.slots_mut();
        if let Slot::Child(child) = &mut slots[index] {
            let removed = NodeRef::make_mut(child).remove_at(key, shift + BITS);
            if let [Slot::Entry(_)] = child.slots() {
                let last = NodeRef::get_mut(child).expect("made unique above").pop();
                slots[index] = last;
            }
            return removed;
        }
        self.header().positions[position(key, shift)] = 0;
        let last = self.pop();
        let len = usize::from(self.header().len);
        let removed = if index < len {
            // The last slot moves into `index`: repoint its position.
            let moved_from = self.header().len + 1;
            let moved = self
                .header()
                .positions
                .iter_mut()
                .find(|slot| **slot == moved_from)
                .expect("every slot has a position");
            *moved = u8::try_from(index + 1).expect("at most 32 slots");
            std::mem::replace(&mut self.slots_mut()[index], last)
        } else {
            last
        };
        let Slot::Entry(entry) = removed else {
            unreachable!("a child was handled above")
        };
        entry.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_no_bigger_than_its_entry() {
        assert_eq!(std::mem::size_of::<Slot>(), std::mem::size_of::<Entry>());
        #[cfg(target_pointer_width = "64")]
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }

    #[test]
    fn a_node_grows_in_steps_up_to_its_positions() {
        let mut room = 1;
        let mut steps = Vec::new();
        while room < 32 {
            room = grown(room);
            steps.push(room);
        }
        assert_eq!(steps, [2, 3, 4, 6, 9, 13, 19, 28, 32]);
        assert_eq!(SLOTS_OFFSET, std::mem::size_of::<Header>());
    }
}
