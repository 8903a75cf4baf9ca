//! A differential test of the persistent map against `BTreeMap`: random programs of inserts,
//! overwrites, removals, snapshots and writes on top of old snapshots, and deterministic
//! programs at sizes up to 100,000. Every snapshot must still equal its model at the end. Only
//! the map's own interface is used, so the node layout can change under this test.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{Map, Meta, store};
use crate::map::Entry;

/// Every seventh key belongs to a variable declared `inherit = false`.
pub(super) fn entry(key: u64, value: u64) -> Entry {
    // SAFETY: the record is for `u64`.
    let value = unsafe { store(value, Meta::of::<u64>("k", key % 7 != 0)) };
    Entry { key, value }
}

pub(super) fn value_of(map: &Map, key: u64) -> Option<u64> {
    map.get(key)
        .map(|e| *e.value.as_any().downcast_ref::<u64>().expect("a u64"))
}

/// The map equals the model: lookups, length, inherit count and iteration.
pub(super) fn check(map: &Map, model: &BTreeMap<u64, u64>) {
    assert_eq!(map.len(), model.len());
    let local = model.keys().filter(|k| *k % 7 == 0).count();
    assert_eq!(map.local(), local);
    let mut entries: Vec<(u64, u64)> = map
        .entries()
        .iter()
        .map(|e| {
            (
                e.key,
                *e.value.as_any().downcast_ref::<u64>().expect("a u64"),
            )
        })
        .collect();
    entries.sort_unstable();
    assert!(
        entries
            .iter()
            .copied()
            .eq(model.iter().map(|(k, v)| (*k, *v)))
    );
    for (&key, &value) in model {
        assert_eq!(value_of(map, key), Some(value), "key {key:#x}");
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// Insert (or overwrite) the key at this index of the pool.
    Insert(usize, u64),
    Remove(usize),
    /// Look up a key, bound or not.
    Get(usize),
    Snapshot,
    /// Continue writing on a copy of the snapshot at this index (modulo): writes then land on
    /// nodes that other snapshots share.
    Restore(usize),
    DropSnapshot(usize),
}

/// Keys that spread like real ones, keys that agree on many levels (so nodes go deep), and keys
/// that differ only in the top bits (the last, four-bit level).
fn key() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => any::<u64>(),
        2 => (0..64u32).prop_map(|b| 0x0123_4567_89ab_cdef ^ (1 << b)),
        2 => (0..16u64).prop_map(|top| 0x0000_0000_0000_0421 | (top << 60)),
        1 => 1..100u64,
    ]
    .prop_filter("0 is no key", |k| *k != 0)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<usize>(), 0..1000u64).prop_map(|(k, v)| Op::Insert(k, v)),
        3 => any::<usize>().prop_map(Op::Remove),
        1 => any::<usize>().prop_map(Op::Get),
        1 => Just(Op::Snapshot),
        1 => any::<usize>().prop_map(Op::Restore),
        1 => any::<usize>().prop_map(Op::DropSnapshot),
    ]
}

fn run_program(pool: &[u64], ops: &[Op]) {
    let mut map = Map::new();
    let mut model = BTreeMap::new();
    let mut snapshots: Vec<(Map, BTreeMap<u64, u64>)> = Vec::new();
    for op in ops {
        match *op {
            Op::Insert(k, v) => {
                let key = pool[k % pool.len()];
                let (old, _) = map.insert(entry(key, v));
                let old = old.map(|o| *o.as_any().downcast_ref::<u64>().expect("a u64"));
                assert_eq!(old, model.insert(key, v));
            }
            Op::Remove(k) => {
                let key = pool[k % pool.len()];
                let (old, _) = map.remove(key);
                let old = old.map(|o| *o.as_any().downcast_ref::<u64>().expect("a u64"));
                assert_eq!(old, model.remove(&key));
            }
            Op::Get(k) => {
                let key = pool[k % pool.len()];
                assert_eq!(value_of(&map, key), model.get(&key).copied());
            }
            Op::Snapshot => snapshots.push((map.clone(), model.clone())),
            Op::Restore(i) => {
                if !snapshots.is_empty() {
                    let (snapshot, snapshot_model) = &snapshots[i % snapshots.len()];
                    map = snapshot.clone();
                    model = snapshot_model.clone();
                }
            }
            Op::DropSnapshot(i) => {
                if !snapshots.is_empty() {
                    snapshots.remove(i % snapshots.len());
                }
            }
        }
        check(&map, &model);
    }
    for (snapshot, snapshot_model) in &snapshots {
        check(snapshot, snapshot_model);
    }
}

fn cases() -> u32 {
    if cfg!(miri) {
        return 4;
    }
    std::env::var("CONTEXTVARS_MODEL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Miri has no file system isolation escape for the failure persistence file.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_programs_match_a_btreemap(
        pool in prop::collection::vec(key(), 1..48),
        ops in prop::collection::vec(op(), 0..if cfg!(miri) { 24 } else { 160 }),
    ) {
        run_program(&pool, &ops);
    }
}

/// A splitmix64 step: the same spread real keys have.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) | 1
}

#[test]
#[cfg_attr(
    miri,
    ignore = "100,000 entries take hours under Miri; the random programs cover it"
)]
fn a_hundred_thousand_entries_keep_every_snapshot() {
    const N: u64 = 100_000;
    let mut map = Map::new();
    let mut model = BTreeMap::new();
    let mut snapshots = Vec::new();
    let mut next_snapshot = 1;
    for i in 0..N {
        map.insert(entry(mix(i), i));
        model.insert(mix(i), i);
        if i + 1 == next_snapshot {
            snapshots.push((map.clone(), model.clone()));
            next_snapshot *= 10;
        }
    }
    check(&map, &model);
    // Overwrite every other key, then remove every third, snapshotting along the way: every
    // write lands on nodes the snapshots share.
    for i in (0..N).step_by(2) {
        map.insert(entry(mix(i), i + N));
        model.insert(mix(i), i + N);
    }
    snapshots.push((map.clone(), model.clone()));
    for i in (0..N).step_by(3) {
        assert!(map.remove(mix(i)).0.is_some());
        model.remove(&mix(i));
        if i % 30_000 == 0 {
            snapshots.push((map.clone(), model.clone()));
        }
    }
    check(&map, &model);
    for i in 0..N {
        map.remove(mix(i));
    }
    assert!(map.root.is_none() && map.len() == 0 && map.local() == 0);
    for (snapshot, snapshot_model) in &snapshots {
        check(snapshot, snapshot_model);
    }
}

#[test]
fn small_deterministic_program_runs_under_miri() {
    let pool: Vec<u64> = (0..40).map(mix).collect();
    let ops: Vec<Op> = (0..200usize)
        .map(|i| match i % 7 {
            0..=2 => Op::Insert(i * 7, i as u64),
            3..=4 => Op::Remove(i * 3),
            5 => Op::Snapshot,
            _ => Op::Restore(i),
        })
        .collect();
    run_program(&pool, &ops);
}
