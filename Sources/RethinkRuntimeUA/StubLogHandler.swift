import Logging
import NIOCore
import RethinkBus
import RethinkCatalogue
import RethinkMessages

/// Reads a stub's stderr, its log: each line goes to the daemon's log under the stub's fields. A line may
/// start with a syslog priority in sd-daemon(3)'s `<N>` form.
final class StubLogHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private var framer = LineFramer(maxLineBytes: 16 * 1024)
    private let logger: Logger
    private let metadata: Logger.Metadata
    private var rate: LogRateLimit

    init(logger: Logger, metadata: Logger.Metadata, rate: LogRateLimit = LogRateLimit(burst: 1000, interval: .seconds(10))) {
        self.logger = logger
        self.metadata = metadata
        self.rate = rate
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { bytes in
            framer.feed(bytes) { event in
                let (write, suppressed) = rate.admit()
                if let suppressed { reportSuppressed(suppressed) }
                guard write else { return }
                switch event {
                case .line(let line):
                    let (level, text) = StubLogHandler.priority(of: String(decoding: line, as: UTF8.self))
                    logger.log(level: level, "\(text)", metadata: metadata)
                case .oversized(let prefix):
                    logger.info("\(String(decoding: prefix, as: UTF8.self))… (line truncated)", metadata: metadata)
                }
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let suppressed = rate.takeSuppressed()
        if suppressed > 0 { reportSuppressed(suppressed) }
        context.fireChannelInactive()
    }

    private func reportSuppressed(_ count: Int) {
        var fields = metadata
        fields["rethink_suppressed"] = "\(count)"
        fields["rethink_source"] = nil
        logger.warning(
            "stub log: \(count) line(s) suppressed (over \(rate.burst) in \(rate.interval.nanoseconds / 1_000_000_000) s)",
            metadata: fields)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    /// Splits `<N>text` into a log level and the text; lines without a prefix are informational.
    static func priority(of line: String) -> (Logger.Level, String) {
        guard line.count >= 3, line.first == "<", let close = line.firstIndex(of: ">"),
            let value = Int(line[line.index(after: line.startIndex)..<close]), (0...7).contains(value)
        else { return (.info, line) }
        let text = String(line[line.index(after: close)...])
        switch value {
        case 0...2: return (.critical, text)
        case 3: return (.error, text)
        case 4: return (.warning, text)
        case 5: return (.notice, text)
        case 6: return (.info, text)
        default: return (.debug, text)
        }
    }
}
