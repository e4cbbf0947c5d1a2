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

/// The unit tests' global allocator: the system one, counting the bytes each thread holds, so
/// a test can measure the peak memory of a call ([`peak_heap`]) natively and in wasm32.
struct Counting;

std::thread_local! {
    static HELD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    static PEAK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn held(grow: usize, shrink: usize) {
    let _ = HELD.try_with(|h| {
        let now = h.get().saturating_add(grow).saturating_sub(shrink);
        h.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counters are
// thread-local cells with constant initialisers (no allocation, no lock).
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        held(layout.size(), 0);
        std::alloc::System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        held(0, layout.size());
        std::alloc::System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // Counted as a move (both blocks alive for a moment), the worst case of a realloc.
        held(new_size, 0);
        let p = std::alloc::System.realloc(ptr, layout, new_size);
        held(0, layout.size());
        p
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// What `f` returns, and the most heap its thread held above the level at the start.
pub(crate) fn peak_heap<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = HELD.with(|h| h.get());
    PEAK.with(|p| p.set(base));
    let r = f();
    let peak = PEAK.with(|p| p.get());
    (r, peak.saturating_sub(base))
}

/// The bytes of `s` written in hex, two digits each, joined by `sep` ("49 67 6e" for "Ign").
pub(crate) fn hex_apart(s: &str, sep: &str) -> String {
    s.bytes()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(sep)
}
