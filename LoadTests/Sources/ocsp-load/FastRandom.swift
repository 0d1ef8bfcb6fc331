/// A tiny xorshift64* generator for per-request choices (GET or POST, sample or not) on the hot
/// path: no locks, no system calls. Not for anything that needs unpredictability.
struct FastRandom {
    private var state: UInt64

    /// A generator seeded from `seed` (any value; zero is remapped).
    init(seed: UInt64) {
        state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed
    }

    /// The next 64 random bits.
    @inline(__always)
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    /// Whether an event of probability `probability` happens this time.
    @inline(__always)
    mutating func chance(_ probability: Double) -> Bool {
        if probability <= 0 { return false }
        if probability >= 1 { return true }
        return Double(next() >> 11) * 0x1p-53 < probability
    }
}
