import NIOCore

/// A window of `burst` log lines per `interval` for one source (a stub's stderr, a peer's dropped messages),
/// as journald's `RateLimitIntervalSec=`/`RateLimitBurst=` do for a service: past it, lines are counted, not
/// written, and the count is reported once the window is over. It keeps a flood from one stub from filling
/// the disk through the daemon's log, on the journal and on stderr alike.
///
/// Confined to one event loop (a handler's, or the bus's). Hand-written: swift-log has no rate limiting.
public struct LogRateLimit: Sendable {
    public let burst: Int
    public let interval: TimeAmount
    private var windowStart: NIODeadline?
    private var used = 0
    private var suppressed = 0

    public init(burst: Int, interval: TimeAmount) {
        self.burst = burst
        self.interval = interval
    }

    /// What to do with one more line at `now`: write it or not, and first report how many the window that
    /// just ended suppressed (nil when none).
    public mutating func admit(at now: NIODeadline = .now()) -> (write: Bool, suppressedBefore: Int?) {
        var report: Int?
        if let start = windowStart, now - start < interval {
            // Within the window.
        } else {
            if suppressed > 0 { report = suppressed }
            windowStart = now
            used = 0
            suppressed = 0
        }
        guard used < burst else {
            suppressed += 1
            return (false, report)
        }
        used += 1
        return (true, report)
    }

    /// Lines suppressed in the current window and not reported yet (to report when the source goes away).
    public mutating func takeSuppressed() -> Int {
        defer { suppressed = 0 }
        return suppressed
    }
}
