#if canImport(Glibc)
    import Glibc
#endif

/// The send time and latency of every request of one measured phase, indexed by id, and what was wrong
/// with the answers.
///
/// Shared by the writer and the reader thread without a lock (hence `@unchecked Sendable`): the writer
/// stamps `sentAt[i]` before it writes request i, and the reader reads it only after reading i's answer,
/// which the socket orders after that write. The counters belong to the reader until it is joined.
final class RoundTripLog: @unchecked Sendable {
    let count: Int
    let firstID: Int
    let rawEcho: Bool
    private let sentAt: UnsafeMutablePointer<UInt64>
    private let latency: UnsafeMutablePointer<UInt64>
    private(set) var answered = 0
    /// Answers with a code other than 200.
    private(set) var errors = 0
    /// Lines that answer no outstanding request: unknown or repeated ids, no id, not a response.
    private(set) var strays = 0
    private(set) var firstProblem: String?

    init(count: Int, firstID: Int, rawEcho: Bool) {
        self.count = count
        self.firstID = firstID
        self.rawEcho = rawEcho
        sentAt = .allocate(capacity: count)
        sentAt.initialize(repeating: 0, count: count)
        latency = .allocate(capacity: count)
        latency.initialize(repeating: 0, count: count)
    }

    deinit {
        sentAt.deallocate()
        latency.deallocate()
    }

    func stamp(index: Int, at time: UInt64) {
        sentAt[index] = time
    }

    /// Takes one answer line received at `time`.
    func record(_ line: UnsafeRawBufferPointer, at time: UInt64) {
        guard let id = Self.integer(after: Self.idKey, in: line), id >= firstID, id - firstID < count,
            sentAt[id - firstID] != 0, latency[id - firstID] == 0
        else {
            strays += 1
            note("answer to no outstanding request", line)
            return
        }
        let index = id - firstID
        latency[index] = max(1, time &- sentAt[index])
        answered += 1
        let code = Self.integer(after: Self.codeKey, in: line)
        if code == 200 || (rawEcho && code == nil) { return }
        errors += 1
        note("answer with code \(code.map(String.init) ?? "none")", line)
    }

    /// Latencies in nanoseconds of the answered requests.
    func latencies() -> [UInt64] {
        UnsafeBufferPointer(start: latency, count: count).filter { $0 != 0 }
    }

    /// The latency in nanoseconds of request `index`, 0 when it was not answered.
    func latency(at index: Int) -> UInt64 {
        latency[index]
    }

    /// Ids sent but never answered (the first few), for the failure message.
    func unanswered(limit: Int = 5) -> [Int] {
        var ids: [Int] = []
        for index in 0..<count where sentAt[index] != 0 && latency[index] == 0 {
            ids.append(firstID + index)
            if ids.count == limit { break }
        }
        return ids
    }

    private func note(_ what: String, _ line: UnsafeRawBufferPointer) {
        if firstProblem == nil { firstProblem = "\(what): \(String(decoding: line.prefix(300), as: UTF8.self))" }
    }

    private static let idKey = Array(#""id":"#.utf8)
    private static let codeKey = Array(#""code":"#.utf8)

    /// The integer after the first `key` in `line`. A byte search, not a JSON parse: the benchmark's own
    /// messages hold no quotes in their URLs or padding, so the first `"id":` is the message's id, and the
    /// client stays cheap next to the server it measures.
    static func integer(after key: [UInt8], in line: UnsafeRawBufferPointer) -> Int? {
        guard line.count >= key.count, let base = line.baseAddress else { return nil }
        var position = 0
        while position + key.count <= line.count {
            guard let quote = memchr(base + position, Int32(key[0]), line.count - position - key.count + 1) else {
                return nil
            }
            let at = base.distance(to: UnsafeRawPointer(quote))
            if key.withUnsafeBytes({ memcmp(base + at, $0.baseAddress!, key.count) }) == 0 {
                var index = at + key.count
                while index < line.count, line[index] == UInt8(ascii: " ") { index += 1 }
                var value = 0
                let digitsStart = index
                while index < line.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(line[index]) {
                    value = value * 10 + Int(line[index] - UInt8(ascii: "0"))
                    index += 1
                }
                return index > digitsStart ? value : nil
            }
            position = at + 1
        }
        return nil
    }
}
