import NIOCore

extension TimeAmount {
    /// A configuration's seconds (`responseTimeoutSeconds: 1.5`) as the modules take them.
    static func seconds(fractional seconds: Double) -> TimeAmount { .nanoseconds(Int64(seconds * 1e9)) }

    /// The other way, for the configuration's defaults, which are the modules' own.
    var seconds: Double { Double(nanoseconds) / 1e9 }
}
