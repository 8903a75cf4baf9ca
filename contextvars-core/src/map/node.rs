//! The trie's nodes: one kind, a position table and a vector of slots (see the module docs).

use super::{Entry, ValueRef};

pub(super) type NodeRef = triomphe::Arc<Node>;

const BITS: u32 = 5;
const MASK: u64 = (1 << BITS) - 1;
/// The shift of the deepest level: it sees the top four bits of the key.
const MAX_SHIFT: u32 = 60;

#[derive(Clone)]
enum Slot {
    Entry(Entry),
    Child(NodeRef),
    /// Only while a slot is being rebuilt in place; never seen outside `Node::insert`.
    Vacant,
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

    fn with_slots(slots: Vec<(usize, Slot)>) -> Node {
        let mut node = Node {
            positions: [0; 32],
            slots: Vec::with_capacity(slots.len()),
        };
        for (position, slot) in slots {
            node.slots.push(slot);
            node.positions[position] = node.slot_count();
        }
        node
    }

    /// A top node holding one entry, with no spare room.
    pub(super) fn single(entry: Entry) -> Node {
        Node::with_slots(vec![(position(entry.key, 0), Slot::Entry(entry))])
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
                Slot::Vacant => unreachable!("vacant slot outside insert"),
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
                _ => return true,
            }
        }
    }

    /// A node holding two entries whose keys agree below `shift`.
    fn pair(a: Entry, b: Entry, shift: u32) -> Node {
        debug_assert!(
            shift <= MAX_SHIFT,
            "distinct keys must differ at some level"
        );
        let (position_a, position_b) = (position(a.key, shift), position(b.key, shift));
        if position_a == position_b {
            let child = Node::pair(a, b, shift + BITS);
            return Node::with_slots(vec![(position_a, Slot::Child(NodeRef::new(child)))]);
        }
        Node::with_slots(vec![
            (position_a, Slot::Entry(a)),
            (position_b, Slot::Entry(b)),
        ])
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
                Slot::Entry(entry) if entry.key == key => {
                    return Ok(std::mem::replace(&mut entry.value, value));
                }
                Slot::Child(child) => match NodeRef::get_mut(child) {
                    Some(child) => {
                        node = child;
                        shift += BITS;
                    }
                    None => return Err(value),
                },
                _ => return Err(value),
            }
        }
    }

    /// Binds `entry.key`, copying the shared nodes on its path; returns the value it replaces.
    pub(super) fn insert(&mut self, entry: Entry) -> Option<ValueRef> {
        self.insert_at(entry, 0)
    }

    fn insert_at(&mut self, entry: Entry, shift: u32) -> Option<ValueRef> {
        let Some(index) = self.slot(entry.key, shift) else {
            self.slots.push(Slot::Entry(entry));
            self.positions[position(self.key_of_last(), shift)] = self.slot_count();
            return None;
        };
        match &mut self.slots[index] {
            Slot::Entry(existing) if existing.key == entry.key => {
                existing.meta = entry.meta;
                Some(std::mem::replace(&mut existing.value, entry.value))
            }
            Slot::Entry(_) => {
                let slot = &mut self.slots[index];
                let Slot::Entry(existing) = std::mem::replace(slot, Slot::Vacant) else {
                    unreachable!()
                };
                *slot = Slot::Child(NodeRef::new(Node::pair(existing, entry, shift + BITS)));
                None
            }
            Slot::Child(child) => NodeRef::make_mut(child).insert_at(entry, shift + BITS),
            Slot::Vacant => unreachable!("vacant slot outside insert"),
        }
    }

    fn key_of_last(&self) -> u64 {
        match self.slots.last() {
            Some(Slot::Entry(entry)) => entry.key,
            _ => unreachable!("insert pushes an entry"),
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
            Slot::Vacant => unreachable!("vacant slot outside insert"),
        }
    }

    pub(super) fn for_each<'a>(&'a self, f: &mut dyn FnMut(&'a Entry)) {
        for slot in &self.slots {
            match slot {
                Slot::Entry(entry) => f(entry),
                Slot::Child(child) => child.for_each(f),
                Slot::Vacant => unreachable!("vacant slot outside insert"),
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}
