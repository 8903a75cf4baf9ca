//! Variable keys: process-unique, and spread so that the map can use them as their own hashes.

use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_VAR_KEY: AtomicU64 = AtomicU64::new(1);

/// A process-unique, non-zero variable key, spread over all 64 bits.
///
/// The counter goes through the splitmix64 finalizer, a bijection on `u64`, so distinct counter
/// values give distinct keys and the map can use keys as their own hashes (see `map/mod.rs`).
pub(crate) fn next_var_key() -> u64 {
    loop {
        let mut z = NEXT_VAR_KEY.fetch_add(1, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        if z != 0 {
            return z;
        }
    }
}
