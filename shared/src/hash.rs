//! FNV-1a, the one fixed hash of the project: where an app's items go in the due index
//! (`store::layout::shard_of`) and each slot's jitter offset (`model::jitter_offset`). Both
//! must give the same answer on every machine and in every release, so neither may use std's
//! hasher (which may change between Rust versions); the test vectors in `store::layout` pin it.

/// FNV-1a, 64 bits: a fixed, well-known hash of a name (std's hasher may change between Rust
/// versions, and the shard of an item must not).
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}
