import Logging

/// Any log handler, with its level taken from a shared ``LogLevelControl`` so that a reload applies to it.
public struct LevelControlledHandler<Base: LogHandler>: LogHandler {
    private var base: Base
    private let level: LogLevelControl

    public init(_ base: Base, level: LogLevelControl) {
        self.base = base
        self.level = level
    }

    public var logLevel: Logger.Level {
        get { level.current }
        set { level.current = newValue }
    }

    public var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        base.log(event: event)
    }
}
