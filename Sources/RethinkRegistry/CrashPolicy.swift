import FoundationEssentials
import Glibc

/// When the runtime redeploys a crashed stub and when it gives up (`dead`).
public struct CrashPolicy: Sendable {
    /// Crashes within `window` that make a stub `dead`.
    public var maxCrashes: Int
    public var window: TimeInterval
    /// Backoff before the n-th redeploy: `base * 2^(n-1)`, capped at `cap`, times a jitter in 0.5...1.
    public var baseDelay: TimeInterval
    public var cap: TimeInterval

    public static let `default` = CrashPolicy(maxCrashes: 5, window: 60, baseDelay: 0.2, cap: 10)

    public init(maxCrashes: Int, window: TimeInterval, baseDelay: TimeInterval, cap: TimeInterval) {
        self.maxCrashes = maxCrashes
        self.window = window
        self.baseDelay = baseDelay
        self.cap = cap
    }

    /// What to do after a crash, given how many crashes the window now holds.
    public func decision(crashesInWindow: Int, jitter: Double) -> CrashDecision {
        if crashesInWindow >= maxCrashes { return .giveUp }
        let exponent = Double(max(0, crashesInWindow - 1))
        let delay = min(cap, baseDelay * pow(2, exponent)) * (0.5 + 0.5 * min(1, max(0, jitter)))
        return .retry(after: delay)
    }
}

/// The Registry's answer to a crash.
public enum CrashDecision: Sendable, Equatable {
    case retry(after: TimeInterval)
    case giveUp
}
