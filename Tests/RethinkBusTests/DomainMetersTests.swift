import Testing

@testable import RethinkBus

/// A domain's request counters are kept by slot, not by label: two codes must share a slot exactly when they
/// share a label, or one series would count another's requests.
struct DomainMetersTests {
    @Test func codesShareACounterExactlyWhenTheyShareALabel() {
        var labelOfSlot: [Int: String] = [:]
        for code in -1..<700 {
            let slot = DomainMeters.codeSlot(code)
            #expect((0..<DomainMeters.codeSlots).contains(slot))
            let label = DomainMeters.codeLabel(code)
            if let seen = labelOfSlot[slot] {
                #expect(seen == label, "code \(code)")
            } else {
                labelOfSlot[slot] = label
            }
        }
        #expect(Set(labelOfSlot.values).count == labelOfSlot.count)
        #expect(labelOfSlot.count == DomainMeters.codeSlots)
    }
}
