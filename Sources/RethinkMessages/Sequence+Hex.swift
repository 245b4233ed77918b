extension Sequence where Element == UInt8 {
    /// The bytes as lowercase hex, two digits each (a digest as the descriptor's `sha256` spells it): what
    /// `String(format: "%02x")` byte by byte gave, without Foundation.
    package var lowercaseHex: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
