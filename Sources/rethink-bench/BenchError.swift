/// A benchmark failure; the message says what went wrong and what to check.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
