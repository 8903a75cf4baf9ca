//! The persistent map that holds a context's bindings.
//!
//! A context is a mutable cell around an immutable-when-shared hash array mapped trie (HAMT),
//! the structure CPython's `Python/hamt.c` uses for the same job. This one is simpler because of
//! what its keys are.
//!
//! **Keys.** Every variable gets a 64-bit key the first time it is used: a global counter passed
//! through a bijective mixer (see [`crate::current::next_var_key`]). Two variables therefore
//! never share a key, and the key is already uniformly spread, so it is its own hash: no hashing
//! on lookup and no collision nodes. Zero is reserved for "no key yet".
//!
//! **Nodes.** One kind only. Level `d` looks at key bits `5d .. 5d+5` (the last level, `d = 12`,
//! has the top four bits), so the trie is at most 13 levels deep and in practice `log32(n)`: one
//! level below 32 variables, three at 100,000. A node holds a vector of slots, one per occupied
//! position, and a 32-byte table from each position to 1 + its slot's index (0 when empty). That
//! table stands where `hamt.c` has a bitmap and a popcount: baseline x86-64 has no popcount
//! instruction, and a byte load is cheaper than the software one (measured: a lookup at 100,000
//! variables went from ~30 to ~14 ns). Slots are in no particular order; a removal moves the last
//! slot into the hole. A slot is either an entry (key, variable metadata, value) or a child node
//! one level deeper. Two keys that share a position at one level move into a child node
//! together; a child left with a single entry after a removal is folded back into its parent, so
//! the set of occupied positions at every level depends only on the set of keys.
//!
//! **The root** carries the map's length and the number of `inherit = false` entries beside the
//! top node, so a map is one pointer and a context two words: every wrapped future carries one,
//! and a few bytes more pushed small tokio tasks over an allocation step (measured: +110 ns a
//! task at 32 bytes, nothing at 16).
//!
//! **Sharing.** Nodes are reference counted with `triomphe::Arc`, which has no weak count, so a
//! uniqueness check is one atomic load rather than a read-modify-write. Copying a map (what
//! `copy_context` does) is one reference count on the root: O(1) at any size. A write walks from
//! the root to the changed slot and, at each node, mutates in place when this map is the only
//! owner, or copies that node first when a snapshot shares it (path copying, O(log n) nodes of
//! at most 32 slots each). Straight-line code that sets and resets without taking snapshots never
//! allocates a node twice; code that snapshots before every write pays one small copy per level.
//!
//! **Values** are `Arc<dyn Value>`, shared by every snapshot that holds them, and dropped when
//! the last map holding them goes. A write never drops a value inside the map: the value it
//! displaces is handed back to the caller, who decides where it is dropped (see
//! [`crate::current::Displaced`]), because dropping runs user code.
//!
//! **Reads** take `&self` and touch no reference count.

use std::any::Any;
use std::sync::Arc;

type NodeRef = triomphe::Arc<Node>;

const BITS: u32 = 5;
const MASK: u64 = (1 << BITS) - 1;
/// The shift of the deepest level: it sees the top four bits of the key.
const MAX_SHIFT: u32 = 60;

/// A stored value: any `Send + Sync + 'static` type, with its type name for diagnostics.
pub(crate) trait Value: Any + Send + Sync {
    fn as_any(&self) -> &(dyn Any + Send + Sync);
    fn type_name(&self) -> &'static str;
}

/// The concrete type behind every `dyn Value`. A blanket impl over all `T` would also cover
/// `Arc<dyn Value>` itself and make method calls on a `ValueRef` resolve to the wrong impl.
struct Stored<T>(T);

impl<T: Any + Send + Sync> Value for Stored<T> {
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        &self.0
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}

/// Wraps a value for storage in a map.
pub(crate) fn store<T: Any + Send + Sync>(value: T) -> ValueRef {
    Arc::new(Stored(value))
}

pub(crate) type ValueRef = Arc<dyn Value>;

impl dyn Value {
    /// The stored `T`, without a type check.
    ///
    /// # Safety
    /// The value must have been stored as a `T`. Every value bound to a key is of the type of
    /// the one variable that owns the key (keys are never shared or reused, and only that
    /// variable's `set`, `reset` and default bind its key), so a `ContextVar<T>` may read its own
    /// key's values as `T`.
    #[inline]
    pub(crate) unsafe fn downcast_unchecked<T: Any>(&self) -> &T {
        debug_assert!(
            self.as_any().is::<T>(),
            "a `{}` read as a `{}`",
            self.type_name(),
            std::any::type_name::<T>()
        );
        // SAFETY: the caller guarantees this is a `Stored<T>`, the only type that implements
        // `Value`; the data pointer of the trait object points at it.
        unsafe { &(*std::ptr::from_ref(self).cast::<Stored<T>>()).0 }
    }
}

/// What a context remembers about a variable next to its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) name: &'static str,
    pub(crate) inherit: bool,
}

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) key: u64,
    pub(crate) meta: Meta,
    pub(crate) value: ValueRef,
}

#[derive(Clone)]
enum Slot {
    Entry(Entry),
    Child(NodeRef),
    /// Only while a slot is being rebuilt in place; never seen outside `Node::insert`.
    Vacant,
}

#[derive(Clone, Default)]
struct Node {
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

    /// `slots.len()`, which never exceeds the 32 positions.
    fn slot_count(&self) -> u8 {
        u8::try_from(self.slots.len()).expect("at most 32 slots")
    }

    #[inline]
    fn get(&self, key: u64) -> Option<&Entry> {
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

    /// Binds `entry.key`; returns the value it replaces, if any.
    fn insert(&mut self, entry: Entry, shift: u32) -> Option<ValueRef> {
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
            Slot::Child(child) => NodeRef::make_mut(child).insert(entry, shift + BITS),
            Slot::Vacant => unreachable!("vacant slot outside insert"),
        }
    }

    fn key_of_last(&self) -> u64 {
        match self.slots.last() {
            Some(Slot::Entry(entry)) => entry.key,
            _ => unreachable!("insert pushes an entry"),
        }
    }

    /// Unbinds `key`, which must be present; returns its value.
    fn remove(&mut self, key: u64, shift: u32) -> ValueRef {
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
                let removed = child.remove(key, shift + BITS);
                if let [Slot::Entry(_)] = child.slots.as_slice() {
                    let last = child.slots.pop().expect("one slot");
                    self.slots[index] = last;
                }
                removed
            }
            Slot::Vacant => unreachable!("vacant slot outside insert"),
        }
    }

    fn for_each<'a>(&'a self, f: &mut dyn FnMut(&'a Entry)) {
        for slot in &self.slots {
            match slot {
                Slot::Entry(entry) => f(entry),
                Slot::Child(child) => child.for_each(f),
                Slot::Vacant => unreachable!("vacant slot outside insert"),
            }
        }
    }
}

/// The top of a map: its root node, with the counts that would otherwise make every context
/// bigger. A map is one pointer, so a context is two words and a wrapped future grows little.
#[derive(Clone)]
struct Root {
    len: usize,
    /// How many entries belong to variables declared `inherit = false`.
    local: usize,
    node: Node,
}

/// A persistent map from variable keys to values. `Clone` is O(1).
#[derive(Clone, Default)]
pub(crate) struct Map {
    root: Option<triomphe::Arc<Root>>,
}

impl Map {
    pub(crate) const fn new() -> Map {
        Map { root: None }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.root.as_ref().map_or(0, |root| root.len)
    }

    /// How many entries belong to variables declared `inherit = false`.
    pub(crate) fn local(&self) -> usize {
        self.root.as_ref().map_or(0, |root| root.local)
    }

    #[inline]
    pub(crate) fn get(&self, key: u64) -> Option<&Entry> {
        self.root.as_deref()?.node.get(key)
    }

    /// Binds `entry.key` to `entry.value`; returns the value it replaces.
    pub(crate) fn insert(&mut self, entry: Entry) -> Option<ValueRef> {
        let local = usize::from(!entry.meta.inherit);
        let Some(root) = &mut self.root else {
            let position = position(entry.key, 0);
            self.root = Some(triomphe::Arc::new(Root {
                len: 1,
                local,
                node: Node::with_slots(vec![(position, Slot::Entry(entry))]),
            }));
            return None;
        };
        let root = triomphe::Arc::make_mut(root);
        let replaced = root.node.insert(entry, 0);
        if replaced.is_none() {
            root.len += 1;
            root.local += local;
        }
        replaced
    }

    /// Unbinds `key`; returns its value if it was bound.
    pub(crate) fn remove(&mut self, key: u64) -> Option<ValueRef> {
        let local = usize::from(!self.get(key)?.meta.inherit);
        let shared = self.root.as_mut().expect("a bound key has a root");
        let root = triomphe::Arc::make_mut(shared);
        let removed = root.node.remove(key, 0);
        root.len -= 1;
        root.local -= local;
        if root.len == 0 {
            self.root = None;
        }
        Some(removed)
    }

    /// Every entry, in key order (which is unrelated to insertion order).
    pub(crate) fn entries(&self) -> Vec<&Entry> {
        let mut out = Vec::with_capacity(self.len());
        if let Some(root) = &self.root {
            root.node.for_each(&mut |entry| out.push(entry));
        }
        out
    }

    /// This map without the entries of variables declared `inherit = false`: what a child task
    /// or thread starts from. O(1) when there are none.
    pub(crate) fn inherited(&self) -> (Map, Vec<ValueRef>) {
        if self.local() == 0 {
            return (self.clone(), Vec::new());
        }
        let local: Vec<u64> = self
            .entries()
            .into_iter()
            .filter(|entry| !entry.meta.inherit)
            .map(|entry| entry.key)
            .collect();
        let mut map = self.clone();
        let removed = local
            .into_iter()
            .filter_map(|key| map.remove(key))
            .collect();
        (map, removed)
    }

    /// True when both maps share the same root: same bindings to the same stored values.
    pub(crate) fn same_root(&self, other: &Map) -> bool {
        match (&self.root, &other.root) {
            (None, None) => true,
            (Some(a), Some(b)) => triomphe::Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Same keys bound to the same stored values (compared by identity).
    pub(crate) fn same_bindings(&self, other: &Map) -> bool {
        if self.same_root(other) {
            return true;
        }
        self.len() == other.len()
            && self.entries().into_iter().all(|entry| {
                other
                    .get(entry.key)
                    .is_some_and(|theirs| Arc::ptr_eq(&theirs.value, &entry.value))
            })
    }
}

#[cfg(test)]
#[path = "map_fuzz_tests.rs"]
mod fuzz_tests;

#[cfg(test)]
mod tests {
    use super::fuzz_tests::{check, entry, value_of as value};
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn keys_that_share_every_level_but_the_last_coexist() {
        let mut map = Map::new();
        let a = 0x0123_4567_89ab_cdef;
        let b = a ^ (1 << 63);
        map.insert(entry(a, 1));
        map.insert(entry(b, 2));
        assert_eq!((value(&map, a), value(&map, b)), (Some(1), Some(2)));
        assert!(map.remove(a).is_some());
        assert_eq!((value(&map, a), value(&map, b)), (None, Some(2)));
        assert!(map.remove(b).is_some());
        assert!(map.root.is_none());
    }

    #[test]
    fn snapshots_are_untouched_by_later_writes() {
        let mut map = Map::new();
        let mut model = BTreeMap::new();
        let mut snapshots = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        // Miri runs the same logic on a smaller program: it is about a thousand times slower.
        let steps: u64 = if cfg!(miri) { 300 } else { 3000 };
        for i in 0..steps {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = (x % 5000) | 1;
            if i % 3 == 0 && model.contains_key(&key) {
                assert!(map.remove(key).is_some());
                model.remove(&key);
            } else {
                map.insert(entry(key, i));
                model.insert(key, i);
            }
            if i % 37 == 0 {
                snapshots.push((map.clone(), model.clone()));
            }
        }
        check(&map, &model);
        for (snapshot, model) in &snapshots {
            check(snapshot, model);
        }
    }

    #[test]
    fn removing_everything_frees_every_node() {
        let mut map = Map::new();
        let n: u64 = if cfg!(miri) { 200 } else { 2000 };
        for key in 1..=n {
            map.insert(entry(key.wrapping_mul(0x9e37_79b9_7f4a_7c15), key));
        }
        for key in 1..=n {
            assert!(
                map.remove(key.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                    .is_some()
            );
        }
        assert_eq!(map.len(), 0);
        assert!(map.root.is_none());
    }

    #[test]
    fn inherited_drops_only_local_entries_and_keeps_the_original() {
        let mut map = Map::new();
        for key in 1..=50u64 {
            map.insert(entry(key, key));
        }
        let (child, removed) = map.inherited();
        assert_eq!(removed.len(), 7);
        assert_eq!(child.len(), 43);
        assert_eq!(map.len(), 50);
        assert!((1..=50).all(|k| (value(&child, k).is_some()) == (k % 7 != 0)));
    }
}
