/// Comparing descriptor `version`s: dotted numbers compare numerically (`1.10` is newer than `1.9`);
/// anything else counts as newer when it differs, so a domain that publishes `2025-06-b` after `2025-06-a`
/// still rolls its stub over.
enum DescriptorVersion {
    static func isNewer(_ candidate: String, than running: String?) -> Bool {
        guard let running else { return true }
        let a = candidate.split(separator: ".").map { Int($0) }
        let b = running.split(separator: ".").map { Int($0) }
        guard !a.contains(nil), !b.contains(nil) else { return candidate != running }
        let left = a.compactMap { $0 }
        let right = b.compactMap { $0 }
        for index in 0..<max(left.count, right.count) {
            let x = index < left.count ? left[index] : 0
            let y = index < right.count ? right[index] : 0
            if x != y { return x > y }
        }
        return false
    }
}
