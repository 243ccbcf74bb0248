//! The engine's random numbers: SplitMix64 over a caller-given seed. heartbeat draws the ACK
//! trigger of each node and the first delay of each retransmission request from `rand()`; we
//! only need them spread out, not secret, and reproducible in tests.

#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) const fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        // SplitMix64 (Steele, Lea, Flood 2014): every seed gives a full-period sequence.
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..=max`.
    pub(crate) fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(n) => self.next_u64() % n,
            None => self.next_u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_in_range_and_depends_on_the_seed() {
        let mut a = Rng::new(1);
        let mut b = Rng::new(2);
        assert_ne!(a.next_u64(), b.next_u64());
        for _ in 0..1000 {
            assert!(a.up_to(9) <= 9);
        }
        assert!(Rng::new(7).up_to(u64::MAX) > 0 || Rng::new(7).up_to(0) == 0);
    }
}
