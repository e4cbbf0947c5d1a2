//! Helpers shared by the unit tests (compiled only for tests).

/// A tiny deterministic xorshift generator for randomised differential tests: the same seed
/// gives the same inputs on every platform, native and wasm32.
pub(crate) struct XorShift(pub u64);

impl XorShift {
    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}
