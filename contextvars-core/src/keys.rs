//! Variable keys: process-unique, and spread so that the map can use them as their own hashes.

use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_VAR_KEY: AtomicU64 = AtomicU64::new(1);

/// A key no variable gets (nor 0, "no key yet"): what an empty read-cache slot holds.
pub(crate) const NO_KEY: u64 = u64::MAX;

/// A process-unique variable key, spread over all 64 bits, neither 0 nor [`NO_KEY`].
///
/// The counter goes through the splitmix64 finalizer, a bijection on `u64`, so distinct counter
/// values give distinct keys and the map can use keys as their own hashes (see `map/mod.rs`).
pub(crate) fn next_var_key() -> u64 {
    loop {
        let mut z = NEXT_VAR_KEY.fetch_add(1, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        if z != 0 && z != NO_KEY {
            return z;
        }
    }
}
