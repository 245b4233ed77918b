import Logging
import Synchronization

/// The daemon's log level, shared by every log handler so that a `SIGHUP` reload changes it at once
/// (swift-log handlers are values: each logger holds its own copy, so the level cannot live in them).
public final class LogLevelControl: Sendable {
    private let level: Mutex<Logger.Level>

    public init(_ level: Logger.Level) {
        self.level = Mutex(level)
    }

    public var current: Logger.Level {
        get { level.withLock { $0 } }
        set { level.withLock { $0 = newValue } }
    }
}
