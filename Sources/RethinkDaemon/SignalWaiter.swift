import Dispatch

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// The signals an operator and systemd send: SIGTERM and SIGINT stop the daemon, SIGHUP reloads its
/// configuration. Observed through dispatch sources, with the signals ignored, so that no signal handler
/// runs arbitrary code.
public enum SignalWaiter {
    public enum Request: Sendable, Equatable {
        case stop(Int32)
        case reload
    }

    /// Every SIGHUP as `.reload`, then the first SIGTERM or SIGINT as `.stop`, which ends the stream.
    public static func requests() -> AsyncStream<Request> {
        let (stream, continuation) = AsyncStream.makeStream(of: Request.self)
        let queue = DispatchQueue(label: "rethink.signals")
        let box = SourceBox()
        queue.sync {
            for signalNumber in [SIGTERM, SIGINT, SIGHUP] {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
                source.setEventHandler {
                    if signalNumber == SIGHUP {
                        continuation.yield(.reload)
                        return
                    }
                    continuation.yield(.stop(signalNumber))
                    continuation.finish()
                    for source in box.sources { source.cancel() }
                }
                source.resume()
                box.sources.append(source)
            }
        }
        return stream
    }
}

/// The dispatch sources, kept alive until the stop; used on one serial queue.
private final class SourceBox: @unchecked Sendable {
    var sources: [DispatchSourceSignal] = []
}
