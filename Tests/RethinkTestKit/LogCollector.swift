import Foundation
import Logging
import Synchronization

/// Log entries the daemon wrote, for assertions on what an operator would read.
public final class LogCollector: Sendable {
    public struct Entry: Sendable {
        public let level: Logger.Level
        public let message: String
        public let metadata: [String: String]
    }

    private let entries = Mutex<[Entry]>([])

    public func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }
    public var all: [Entry] { entries.withLock { $0 } }
}

public struct CollectingLogHandler: LogHandler {
    public let collector: LogCollector
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .debug

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            fields[key] = "\(value)"
        }
        collector.append(.init(level: event.level, message: "\(event.message)", metadata: fields))
        if ProcessInfo.processInfo.environment["RETHINK_TEST_LOG"] != nil {
            FileHandle.standardError.write(Data("[\(event.level)] \(event.message) \(fields)\n".utf8))
        }
    }
}

