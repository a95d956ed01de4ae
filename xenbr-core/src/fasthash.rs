//! A fast hash for the maps that planning and transactions consult
//! thousands of times per batch, keyed by interface names and kernel
//! indices. std's SipHash resists flooding by keys an attacker picks; these
//! keys are the host's own names and indices, and SipHash was a fifth of
//! the time of planning a batch of 1000 interfaces.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// A `HashSet` with [`FastHasher`].
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

/// Multiply-rotate over 8-byte words (as rustc's FxHasher), with a final
/// avalanche (MurmurHash3's) so that the low bits the table indexes with
/// depend on every input bit: `vif1000.0` and `vif2000.0` differ only in
/// one middle byte.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::IfName;

    #[test]
    fn names_that_differ_in_one_byte_spread_over_the_table() {
        let mut low_bits = FastSet::default();
        for d in 1000..1256 {
            let n = IfName::new(&format!("vif{d}.0")).unwrap();
            let h =
                std::hash::BuildHasher::hash_one(&BuildHasherDefault::<FastHasher>::default(), &n);
            low_bits.insert(h & 0xff);
        }
        assert!(
            low_bits.len() > 128,
            "only {} of 256 buckets",
            low_bits.len()
        );
    }
}
