import Dispatch

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// Waits for SIGTERM or SIGINT (systemd's stop, an operator's Ctrl-C) without a signal handler running
/// arbitrary code: the signals are ignored and observed through a dispatch source.
public enum SignalWaiter {
    public static func waitForTermination() async -> Int32 {
        await withCheckedContinuation { continuation in
            let queue = DispatchQueue(label: "rethink.signals")
            var sources: [DispatchSourceSignal] = []
            let once = OnceFlag()
            for signalNumber in [SIGTERM, SIGINT] {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
                source.setEventHandler {
                    guard once.claim() else { return }
                    for source in sources { source.cancel() }
                    continuation.resume(returning: signalNumber)
                }
                source.resume()
                sources.append(source)
            }
        }
    }
}

/// True for the first caller only; used on one serial queue.
private final class OnceFlag: @unchecked Sendable {
    private var claimed = false
    func claim() -> Bool {
        defer { claimed = true }
        return !claimed
    }
}
