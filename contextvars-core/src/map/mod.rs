//! The persistent map that holds a context's bindings.
//!
//! A context is a mutable cell around an immutable-when-shared hash array mapped trie (HAMT),
//! the structure CPython's `Python/hamt.c` uses for the same job. This one is simpler because of
//! what its keys are.
//!
//! **Keys.** Every variable gets a 64-bit key the first time it is used: a global counter passed
//! through a bijective mixer (see [`crate::keys::next_var_key`]). Two variables therefore
//! never share a key, and the key is already uniformly spread, so it is its own hash: no hashing
//! on lookup and no collision nodes. Zero is reserved for "no key yet".
//!
//! **Nodes.** One kind only. Level `d` looks at key bits `5d .. 5d+5` (the last level, `d = 12`,
//! has the top four bits), so the trie is at most 13 levels deep and in practice `log32(n)`: one
//! level below 32 variables, three at 100,000. A node holds its slots, one per occupied position,
//! and a 32-byte table from each position to 1 + its slot's index (0 when empty), with its
//! reference count, in one allocation: the table and the counts first, the slots after them. That
//! table stands where `hamt.c` has a bitmap and a popcount: baseline x86-64 has no popcount
//! instruction, and a byte load is cheaper than the software one (measured: a lookup at 100,000
//! variables went from ~30 to ~14 ns). Slots are in no particular order; a removal moves the last
//! slot into the hole. A node that no snapshot shares grows by reallocating, about half again
//! at a time; a copy has exactly the room its slots take, and a fresh map's top node room for
//! four, a request's first few variables. A slot is either an entry (below) or a child node
//! one level deeper. Two keys that share a position at one level move into a child node
//! together; a child left with a single entry after a removal is folded back into its parent, so
//! the set of occupied positions at every level depends only on the set of keys.
//!
//! **The root** carries the map's length and the number of `inherit = false` entries beside a
//! pointer to the top node and the delta (below), all in one allocation, so a map is one
//! pointer and a context two words: every wrapped future carries one, and a few bytes more
//! pushed small tokio tasks over an allocation step (measured: +110 ns a task at 32 bytes,
//! nothing at 16).
//!
//! **Sharing.** Nodes are reference counted like an `Arc` without a weak count, so a
//! uniqueness check is one atomic load rather than a read-modify-write. Copying a map (what
//! `copy_context` does) is one reference count on the root: O(1) at any size. A write to a map
//! that no snapshot shares changes the trie in place: a rebind allocates nothing, a new key at
//! most grows one node or adds one.
//!
//! **Writes under a snapshot** are where a plain HAMT loses to CPython: copying the path costs
//! one atomic increment per slot of every copied node (and a decrement when it goes), where
//! CPython pays a plain increment. So the root keeps a small *delta* beside the trie: at most
//! eight changes (a binding, or an unbinding of a key the trie holds), one per key, which win
//! over the trie's bindings. A write whose path in the trie is shared records its change in the
//! delta instead of copying the path; when the root itself is shared it is copied first, which
//! costs one allocation (the delta lives in the root's, with room for the change being made),
//! one reference count for the trie and one per shared value in the delta, whatever the map's
//! size. A write to a path this map owns alone still goes into the trie in place. The ninth
//! key in the delta folds all of them into the trie (path copying, once per eight distinct
//! keys), and so does removing the last binding; so does the first write after the snapshots
//! that shared the trie are gone, which then costs no copying, and the writes after it take the
//! in-place paths again. Reads look in the delta first (empty in a map never written under a
//! snapshot), then walk the trie; reads of the thread's current context usually skip both,
//! served by the per-thread read cache of `crate::current`.
//!
//! **Entries** are three words: the key, the value's word and a pointer to the variable's
//! [`Meta`] (name, `inherit`, and how its values are stored), one record shared by every
//! binding of every variable with the same name, inheritance and value type, made the first
//! time such a variable binds a value and kept for the life of the process (see [`Meta::of`]).
//! Values of the plain primitive types of at most eight bytes (integers, floats, `bool`,
//! `char`) are stored inline, in the word ([`InlineValue`]): no allocation, no reference count,
//! and snapshots copy them with the entry. Because an inline value moves with its entry, reads
//! copy it out rather than borrow it. Every other value is a [`Stored`] the word points to, a
//! reference count and the value in one allocation, shared by every snapshot that holds it, and
//! dropped when the last map holding it goes. A write never drops a value inside the map: the value it
//! displaces, and those a fold of the delta releases, are handed back to the caller, who decides where it is dropped (see
//! [`crate::current::Displaced`]), because dropping runs user code.
//!
//! **Reads** take `&self` and touch no reference count.

mod counted;
mod node;
mod root;
mod value;

use node::NodeRef;
use root::{Root, RootMut};

pub(crate) use value::{InlineValue, Meta, Stored, Value, ValueRef, is_plain, store};

/// A binding: a variable's key and its value, which points to the variable's [`Meta`].
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) key: u64,
    pub(crate) value: ValueRef,
}

impl Entry {
    /// The record of the entry's variable.
    #[inline]
    pub(crate) fn meta(&self) -> &'static Meta {
        self.value.meta()
    }
}

/// Values a write took out of a map besides the one it returns: the older values of keys a
/// compaction folded into the trie. Dropped by the caller, like the returned value.
pub(crate) type Released = Vec<ValueRef>;

/// How many changes a root keeps beside a shared trie before it folds them in.
const MAX_DELTA: usize = 8;

/// A change recorded beside a shared trie: it wins over the trie's binding of its key.
#[derive(Clone)]
enum Delta {
    Bound(Entry),
    /// The key is bound in the trie and unbound in this map.
    Unbound(u64),
}

impl Delta {
    #[inline]
    fn key(&self) -> u64 {
        match self {
            Delta::Bound(entry) => entry.key,
            Delta::Unbound(key) => *key,
        }
    }

    #[inline]
    fn entry(&self) -> Option<&Entry> {
        match self {
            Delta::Bound(entry) => Some(entry),
            Delta::Unbound(_) => None,
        }
    }

    fn into_value(self) -> Option<ValueRef> {
        match self {
            Delta::Bound(entry) => Some(entry.value),
            Delta::Unbound(_) => None,
        }
    }
}

/// The value `key` is bound to in the root, or `None`.
#[inline]
fn root_get(root: &Root, key: u64) -> Option<&Entry> {
    match root.delta().iter().find(|change| change.key() == key) {
        Some(change) => change.entry(),
        None => root.tree().get(key),
    }
}

/// Applies `change`; returns the value its key was bound to. `Unbound` only for a bound key.
fn write(root: &mut RootMut<'_>, change: Delta) -> (Option<ValueRef>, Released) {
    // A delta beside a trie that no other root holds any more (the snapshots that shared it are
    // gone) is folded in first, in place: this write and the next ones then take the paths
    // that change the trie where it is.
    if !root.delta().is_empty() && NodeRef::get_mut(root.tree()).is_some() {
        let mut released = compact(root);
        let (old, more) = write_change(root, change);
        released.extend(more);
        return (old, released);
    }
    write_change(root, change)
}

fn write_change(root: &mut RootMut<'_>, change: Delta) -> (Option<ValueRef>, Released) {
    let key = change.key();
    if let Some(index) = root.delta().iter().position(|old| old.key() == key) {
        if matches!(change, Delta::Unbound(_)) && root.tree().get(key).is_none() {
            return (root.swap_remove(index).into_value(), Released::new());
        }
        let old = std::mem::replace(&mut root.delta()[index], change);
        return (old.into_value(), Released::new());
    }
    if let Some(mut tree) = NodeRef::get_mut(root.tree()).filter(|t| t.path_is_unique(key)) {
        let old = match change {
            Delta::Bound(entry) => tree.insert(entry),
            Delta::Unbound(key) => Some(tree.remove(key)),
        };
        return (old, Released::new());
    }
    // A snapshot shares the trie: keep the change beside it instead of copying its path.
    let old = root.tree().get(key).map(|entry| entry.value.clone());
    root.push(change);
    if root.delta().len() > MAX_DELTA {
        return (old, compact(root));
    }
    (old, Released::new())
}

/// Folds the delta into the trie, copying the shared nodes on the changed paths.
fn compact(root: &mut RootMut<'_>) -> Released {
    let mut released = Released::new();
    if root.delta().is_empty() {
        return released;
    }
    NodeRef::make_mut(root.tree());
    while let Some(change) = root.pop() {
        let mut tree = NodeRef::get_mut(root.tree()).expect("made unique above");
        released.extend(match change {
            Delta::Bound(entry) => tree.insert(entry),
            Delta::Unbound(key) => Some(tree.remove(key)),
        });
    }
    released
}

/// Room a copy of `root` needs for a write of `key`: one change more, unless the delta already
/// has one for the key (a copy's trie is shared, so the write goes to the delta).
fn spare_for(root: &Root, key: u64) -> u32 {
    u32::from(!root.delta().iter().any(|change| change.key() == key))
}

/// A persistent map from variable keys to values. `Clone` is O(1).
#[derive(Clone, Default)]
pub(crate) struct Map {
    root: Option<Root>,
}

impl Map {
    pub(crate) const fn new() -> Map {
        Map { root: None }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.root.as_ref().map_or(0, Root::len)
    }

    /// How many entries belong to variables declared `inherit = false`.
    pub(crate) fn local(&self) -> usize {
        self.root.as_ref().map_or(0, Root::local)
    }

    #[inline]
    pub(crate) fn get(&self, key: u64) -> Option<&Entry> {
        root_get(self.root.as_ref()?, key)
    }

    /// Binds `entry.key` to `entry.value`; returns the value it replaces.
    // Always inlined: returned through memory, its results cost a store-forwarding stall.
    #[allow(clippy::inline_always)] // measured: out of line, its results went through memory
    #[inline(always)]
    pub(crate) fn insert(&mut self, entry: Entry) -> (Option<ValueRef>, Released) {
        // The common write: a key already bound, in a map that no snapshot shares and that has
        // no delta.
        let mut entry = entry;
        if let Some(mut root) = self.root.as_mut().and_then(Root::get_mut) {
            if root.delta().is_empty() {
                if let Some(tree) = NodeRef::get_mut(root.tree()) {
                    match tree.replace_unique(entry.key, entry.value) {
                        Ok(old) => return (Some(old), Released::new()),
                        Err(value) => entry.value = value,
                    }
                }
            }
        }
        self.insert_slow(entry)
    }

    #[inline(never)]
    fn insert_slow(&mut self, entry: Entry) -> (Option<ValueRef>, Released) {
        let local = usize::from(!entry.meta().inherit);
        let Some(root) = &mut self.root else {
            let tree = NodeRef::single(entry);
            self.root = Some(Root::new(tree, 1, local, 0));
            return (None, Released::new());
        };
        // A shared root is copied: one reference count for the trie and one per delta entry.
        let mut root = root.make_mut(spare_for(root, entry.key));
        let (old, released) = write(&mut root, Delta::Bound(entry));
        match &old {
            None => *root.len() += 1,
            // The old binding's record counts for itself (see `NodeMut::replace_unique`).
            Some(old) => *root.local() -= usize::from(!old.meta().inherit),
        }
        *root.local() += local;
        (old, released)
    }

    /// Unbinds `key`; returns its value if it was bound.
    pub(crate) fn remove(&mut self, key: u64) -> (Option<ValueRef>, Released) {
        let Some(entry) = self.get(key) else {
            return (None, Released::new());
        };
        let local = usize::from(!entry.meta().inherit);
        let shared = self.root.as_mut().expect("a bound key has a root");
        let spare = spare_for(shared, key);
        let mut root = shared.make_mut(spare);
        let (old, mut released) = write(&mut root, Delta::Unbound(key));
        *root.len() -= 1;
        *root.local() -= local;
        if *root.len() == 0 {
            // The trie may still hold values the delta unbinds: they leave through `released`.
            released.extend(compact(&mut root));
            debug_assert!(root.tree().is_empty());
            self.root = None;
        }
        (old, released)
    }

    /// Every entry, in no particular order.
    pub(crate) fn entries(&self) -> Vec<&Entry> {
        let mut out = Vec::with_capacity(self.len());
        if let Some(root) = &self.root {
            root.tree().for_each(&mut |entry| {
                if !root.delta().iter().any(|change| change.key() == entry.key) {
                    out.push(entry);
                }
            });
            out.extend(root.delta().iter().filter_map(Delta::entry));
        }
        out
    }

    /// This map without the entries of variables declared `inherit = false`: what a child task
    /// or thread starts from. O(1) when there are none.
    pub(crate) fn inherited(&self) -> (Map, Released) {
        if self.local() == 0 {
            return (self.clone(), Released::new());
        }
        let local: Vec<u64> = self
            .entries()
            .into_iter()
            .filter(|entry| !entry.meta().inherit)
            .map(|entry| entry.key)
            .collect();
        let mut map = self.clone();
        let mut removed = Released::new();
        for key in local {
            let (old, released) = map.remove(key);
            removed.extend(old);
            removed.extend(released);
        }
        (map, removed)
    }

    /// True when both maps share the same root: same bindings to the same stored values.
    pub(crate) fn same_root(&self, other: &Map) -> bool {
        match (&self.root, &other.root) {
            (None, None) => true,
            (Some(a), Some(b)) => a.ptr_eq(b),
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
                    .is_some_and(|theirs| theirs.value.same(&entry.value))
            })
    }
}

#[cfg(test)]
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
        assert!(map.remove(a).0.is_some());
        assert_eq!((value(&map, a), value(&map, b)), (None, Some(2)));
        assert!(map.remove(b).0.is_some());
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
                assert!(map.remove(key).0.is_some());
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
                    .0
                    .is_some()
            );
        }
        assert_eq!(map.len(), 0);
        assert!(map.root.is_none());
    }

    #[test]
    fn a_binding_under_a_new_record_moves_the_local_count() {
        let bind = |key: u64, inherit: bool| {
            // SAFETY: the record is for `u64`.
            let value = unsafe { store(key, Meta::of::<u64>("recounted", inherit)) };
            Entry { key, value }
        };
        let mut map = Map::new();
        map.insert(bind(1, true));
        map.insert(bind(1, false));
        assert_eq!((map.len(), map.local()), (1, 1));
        let snapshot = map.clone();
        map.insert(bind(1, true));
        assert_eq!((map.len(), map.local(), snapshot.local()), (1, 0, 1));
        map.insert(bind(1, false));
        assert!(map.remove(1).0.is_some());
        assert_eq!((map.len(), map.local()), (0, 0));
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
