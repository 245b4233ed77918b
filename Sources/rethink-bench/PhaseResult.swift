import Foundation
import RethinkMessages

/// The numbers of one measured phase, printed as a line for people and as JSON for scripts.
struct PhaseResult {
    let name: String
    let window: Int
    let requests: Int
    let seconds: Double
    let errors: Int
    let strays: Int
    /// Sorted latencies in nanoseconds.
    let latencies: [UInt64]

    init(name: String, window: Int, seconds: Double, log: RoundTripLog) {
        self.name = name
        self.window = window
        self.requests = log.count
        self.seconds = seconds
        self.errors = log.errors
        self.strays = log.strays
        self.latencies = log.latencies().sorted()
    }

    var roundTripsPerSecond: Double { seconds > 0 ? Double(latencies.count) / seconds : 0 }

    /// The nearest-rank percentile, in milliseconds.
    func percentile(_ fraction: Double) -> Double {
        guard !latencies.isEmpty else { return 0 }
        let rank = max(1, Int((fraction * Double(latencies.count)).rounded(.up)))
        return Double(latencies[min(rank, latencies.count) - 1]) / 1e6
    }

    var line: String {
        name.padding(toLength: 14, withPad: " ", startingAt: 0)
            + String(
                format:
                    "window %3d  %7d requests  %9.0f round trips/s  p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms  errors %d",
                window, requests, roundTripsPerSecond, percentile(0.5), percentile(0.99), percentile(1), errors + strays
            )
    }

    var json: JSONValue {
        [
            "window": .int(Int64(window)), "requests": .int(Int64(requests)), "seconds": .double(Self.micros(seconds)),
            "roundTripsPerSecond": .double(roundTripsPerSecond.rounded()),
            "p50Ms": .double(Self.micros(percentile(0.5))), "p99Ms": .double(Self.micros(percentile(0.99))),
            "maxMs": .double(Self.micros(percentile(1))),
            "errors": .int(Int64(errors)), "strays": .int(Int64(strays)),
        ]
    }

    /// Rounds to three decimals, so the JSON line stays readable.
    private static func micros(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}
