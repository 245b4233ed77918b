import Testing

@testable import RethinkMessages

struct LineFramerTests {
    private func lines(_ chunks: [String], max: Int = 64) -> [String] {
        var framer = LineFramer(maxLineBytes: max)
        var out: [String] = []
        for chunk in chunks {
            Array(chunk.utf8).withUnsafeBytes { bytes in
                framer.feed(bytes) { event in
                    switch event {
                    case .line(let line): out.append(String(decoding: line, as: UTF8.self))
                    case .oversized(let prefix):
                        out.append("OVERSIZED:" + String(decoding: prefix.prefix(5), as: UTF8.self))
                    }
                }
            }
        }
        return out
    }

    @Test func linesSplitAcrossChunksAreJoined() {
        #expect(lines(["{\"a\"", ":1}\n{\"b\":2}\r\n\n  \n{\"c\""]) == ["{\"a\":1}", "{\"b\":2}"])
    }

    @Test func anOverlongLineIsReportedAndTheStreamResynchronises() {
        let long = String(repeating: "x", count: 100)
        #expect(lines(["{\"id\":1,", long, "\n{\"ok\":1}\n"]) == ["OVERSIZED:{\"id\"", "{\"ok\":1}"])
    }
}
