/// Hashing for keys that cache their digest (`DomainKey`, the bus's pending-request keys).
///
/// A `Dictionary` asks a key for `_rawHashValue(seed:)`, whose default runs a whole `Hasher` (SipHash) over
/// what `hash(into:)` feeds it: for a cached digest that is one SipHash per lookup, insertion and removal
/// (`Hasher` was about 5% of the daemon's samples in the pinned routing profile, docs/BENCHMARK.md). The digest
/// is already a seeded SipHash of the key's contents, so it cannot be chosen by a peer to collide; what the
/// table's seed is for is that two tables place the same keys differently, which a multiply and a shift give
/// as well.
package enum HashDigest {
    /// `digest` mixed with a table's `seed`: each step (xor, odd multiply, xor-shift) is a bijection, so distinct
    /// digests stay distinct.
    @inlinable
    package static func mixed(_ digest: Int, seed: Int) -> Int {
        let product = UInt64(truncatingIfNeeded: digest ^ seed) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: product ^ (product >> 29))
    }
}
