import Foundation
import Testing

@testable import RethinkCatalogue

struct OperatorDescriptionTests {
    /// A failed file operation reads as the system's reason and the file, not as a dump of the error value.
    @Test func aFileErrorNamesTheReasonAndTheFile() {
        let error = #expect(throws: CocoaError.self) {
            try FileManager.default.createDirectory(
                atPath: "/proc/rethink-no-such-dir/x", withIntermediateDirectories: true)
        }
        #expect(error?.operatorDescription == "No such file or directory: /proc/rethink-no-such-dir")
    }

    @Test func anotherErrorKeepsItsOwnDescription() {
        struct Refusal: Error, CustomStringConvertible {
            var description: String { "refused" }
        }
        #expect(Refusal().operatorDescription == "refused")
    }
}
