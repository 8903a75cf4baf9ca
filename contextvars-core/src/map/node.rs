//! The trie's nodes: one kind, a position table and a vector of slots (see the module docs).

use super::{Entry, ValueRef};

pub(super) type NodeRef = triomphe::Arc<Node>;

const BITS: u32 = 5;
const MASK: u64 = (1 << BITS) - 1;
/// The room of a fresh map's top node, in slots.
const FIRST_ROOM: usize = 4;
/// The shift of the deepest level: it sees the top four bits of the key.
const MAX_SHIFT: u32 = 60;

/// No third variant: the entry's non-null record pointer is the niche that tells the two
/// apart, so a slot is no bigger than an entry.
#[derive(Clone)]
enum Slot {
    Entry(Entry),
    Child(NodeRef),
}

#[derive(Clone, Default)]
pub(super) struct Node {
    /// For each of the level's 32 positions, 1 + the index of its slot, or 0 when empty.
    positions: [u8; 32],
    slots: Vec<Slot>,
}

/// The position of `key` at the level that starts at `shift`.
#[inline]
fn position(key: u64, shift: u32) -> usize {
    // The mask keeps the value below 32.
    #[allow(clippy::cast_possible_truncation)]
    let position = ((key >> shift) & MASK) as usize;
    position
}

impl Node {
    #[inline]
    fn slot(&self, key: u64, shift: u32) -> Option<usize> {
        match self.positions[position(key, shift)] {
            0 => None,
            slot => Some(usize::from(slot) - 1),
        }
    }

    /// Adds `slot` at `position`, which must be empty.
    fn push(&mut self, position: usize, slot: Slot) {
        self.slots.push(slot);
        self.positions[position] = self.slot_count();
    }

    /// A top node holding one entry, with room for [`FIRST_ROOM`] entries: a fresh context's
    /// first few binds do not reallocate it.
    pub(super) fn single(entry: Entry) -> Node {
        let mut node = Node {
            positions: [0; 32],
            slots: Vec::with_capacity(FIRST_ROOM),
        };
        node.push(position(entry.key, 0), Slot::Entry(entry));
        node
    }

    /// `slots.len()`, which never exceeds the 32 positions.
    fn slot_count(&self) -> u8 {
        u8::try_from(self.slots.len()).expect("at most 32 slots")
    }

    #[inline]
    pub(super) fn get(&self, key: u64) -> Option<&Entry> {
        let mut node = self;
        let mut shift = 0;
        loop {
            match &node.slots[node.slot(key, shift)?] {
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
            match &node.slots[index] {
                Slot::Child(child) if child.is_unique() => {
                    node = child;
                    shift += BITS;
                }
                Slot::Child(_) => return false,
                Slot::Entry(_) => return true,
            }
        }
    }

    /// Fills this empty node with two entries whose keys agree below `shift`, with no spare
    /// room.
    fn fill_pair(&mut self, a: Entry, b: Entry, shift: u32) {
        debug_assert!(
            shift <= MAX_SHIFT,
            "distinct keys must differ at some level"
        );
        let (position_a, position_b) = (position(a.key, shift), position(b.key, shift));
        if position_a == position_b {
            let mut child = Node::default();
            child.fill_pair(a, b, shift + BITS);
            self.slots.reserve_exact(1);
            self.push(position_a, Slot::Child(NodeRef::new(child)));
            return;
        }
        self.slots.reserve_exact(2);
        self.push(position_a, Slot::Entry(a));
        self.push(position_b, Slot::Entry(b));
    }

    /// Rebinds `key`, already bound in this trie, to `value` in place when no node on its path
    /// is shared: the common write, with nothing copied and no entry moved. Gives `value` back
    /// when the key is unbound or a node on the way is shared.
    #[allow(clippy::inline_always)] // measured: out of line, its results went through memory
    #[inline(always)]
    pub(super) fn replace_unique(
        &mut self,
        key: u64,
        value: ValueRef,
    ) -> Result<ValueRef, ValueRef> {
        let mut node = self;
        let mut shift = 0;
        loop {
            let Some(index) = node.slot(key, shift) else {
                return Err(value);
            };
            match &mut node.slots[index] {
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
        match &mut self.slots[index] {
            Slot::Entry(existing) if existing.key == entry.key => {
                Some(std::mem::replace(&mut existing.value, entry.value))
            }
            Slot::Entry(_) => {
                // The two entries move into a new child, made empty first so that the one here
                // can be moved out of its slot.
                let slot = &mut self.slots[index];
                let Slot::Entry(existing) =
                    std::mem::replace(slot, Slot::Child(NodeRef::new(Node::default())))
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
        match &mut self.slots[index] {
            Slot::Entry(_) => {
                self.positions[position(key, shift)] = 0;
                let Slot::Entry(entry) = self.slots.swap_remove(index) else {
                    unreachable!()
                };
                if index < self.slots.len() {
                    // The last slot moved into `index`: repoint its position.
                    let moved_from = self.slot_count() + 1;
                    let moved = self
                        .positions
                        .iter_mut()
                        .find(|slot| **slot == moved_from)
                        .expect("every slot has a position");
                    *moved = u8::try_from(index + 1).expect("at most 32 slots");
                }
                entry.value
            }
            Slot::Child(child) => {
                let child = NodeRef::make_mut(child);
                let removed = child.remove_at(key, shift + BITS);
                if let [Slot::Entry(_)] = child.slots.as_slice() {
                    let last = child.slots.pop().expect("one slot");
                    self.slots[index] = last;
                }
                removed
            }
        }
    }

    pub(super) fn for_each<'a>(&'a self, f: &mut dyn FnMut(&'a Entry)) {
        for slot in &self.slots {
            match slot {
                Slot::Entry(entry) => f(entry),
                Slot::Child(child) => child.for_each(f),
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.slots.is_empty()
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
}
