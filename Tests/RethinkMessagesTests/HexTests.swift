import Testing

@testable import RethinkMessages

struct HexTests {
    /// Two lowercase digits a byte, leading zeros kept: the form of a descriptor's `sha256`.
    @Test func bytesAreTwoLowercaseDigitsEach() {
        #expect([0x00, 0x01, 0x0a, 0x7f, 0x80, 0xab, 0xff].lowercaseHex == "00010a7f80abff")
        #expect([UInt8]().lowercaseHex == "")
    }
}
