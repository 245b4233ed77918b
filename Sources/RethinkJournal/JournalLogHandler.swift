import Logging
import RethinkMessages

/// A swift-log handler that writes to journald's native protocol with structured fields: `MESSAGE`,
/// `PRIORITY`, `SYSLOG_IDENTIFIER`, `CODE_FILE`/`CODE_LINE`/`CODE_FUNC`, and every metadata key as an upper
/// case field (`rethink_domain` → `RETHINK_DOMAIN`, `message_id` → `MESSAGE_ID`).
///
/// Entries with `rethink_source: stub` are a stub's stderr: they are sent lossily (see
/// ``DroppedLineCounter``), so that a chatty stub cannot stall the event loop that reads it.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level {
        get { level.current }
        set { level.current = newValue }
    }

    private let identifier: String
    private let journal: JournalSocket
    private let level: LogLevelControl
    private let dropped: DroppedLineCounter
    private let fallback: @Sendable (String) -> Void

    /// - Parameter fallback: where an entry goes when the journal refuses it (journald gone): stderr.
    public init(
        identifier: String, journal: JournalSocket, level: LogLevelControl, dropped: DroppedLineCounter,
        fallback: @escaping @Sendable (String) -> Void
    ) {
        self.identifier = identifier
        self.journal = journal
        self.level = level
        self.dropped = dropped
        self.fallback = fallback
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let lossySource = fields["rethink_source"].map { "\($0)" } == "stub" ? fields["rethink_stub_url"] : nil
        var entry = JournalEntry()
        entry.append("MESSAGE", "\(event.message)")
        entry.append("PRIORITY", String(Self.priority(event.level)))
        entry.append("SYSLOG_IDENTIFIER", identifier)
        entry.append("CODE_FILE", event.file)
        entry.append("CODE_LINE", String(event.line))
        entry.append("CODE_FUNC", event.function)
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            guard let name = JournalEntry.fieldName(for: key), !Self.reserved.contains(name) else { continue }
            entry.append(name, "\(value)")
        }
        guard let lossySource else {
            if case .failed(let error) = journal.send(entry, lossy: false) {
                fallback("\(event.level) \(event.message) (journal unreachable, errno \(error))")
            }
            return
        }
        let source = "\(lossySource)"
        switch journal.send(entry, lossy: true) {
        case .sent:
            let lost = dropped.take(source)
            guard lost > 0 else { return }
            var report = JournalEntry()
            report.append("MESSAGE", "\(lost) log line(s) of stub \(source) dropped: the journal was behind")
            report.append("PRIORITY", "4")
            report.append("SYSLOG_IDENTIFIER", identifier)
            report.append("MESSAGE_ID", JournalMessageID.stubLogLinesDropped)
            report.append("RETHINK_STUB_URL", source)
            report.append("RETHINK_DROPPED_LINES", String(lost))
            if let domain = fields["rethink_domain"] { report.append("RETHINK_DOMAIN", "\(domain)") }
            _ = journal.send(report, lossy: false)
        case .dropped:
            dropped.record(source)
        case .failed:
            dropped.record(source)
        }
    }

    /// Fields the handler sets itself; metadata cannot override them.
    private static let reserved: Set<String> = [
        "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC",
    ]

    /// syslog(3) priorities.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
