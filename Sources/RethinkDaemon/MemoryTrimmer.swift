import Dispatch

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// Gives the memory a burst left behind back to the system: glibc keeps what the daemon freed (the routes
/// of 60,000 unknown domains, the buffers of a flood) in its arenas, so RSS stays at the burst's peak. Every
/// 30 s, on a queue of its own (never the event loop), `malloc_trim(0)` returns the free pages.
///
/// Hand-written: Swift's Glibc module does not export `malloc_trim`, so it is looked up once with `dlsym`;
/// on a C library without it this does nothing.
/// `@unchecked Sendable`: the timer is made in `init` and only cancelled after (Dispatch sources are thread-safe).
final class MemoryTrimmer: @unchecked Sendable {
    private typealias Trim = @convention(c) (Int) -> Int32
    private let timer: DispatchSourceTimer

    init?(every interval: DispatchTimeInterval = .seconds(30)) {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        let trim = unsafeBitCast(symbol, to: Trim.self)
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "rethink.memory-trim", qos: .utility))
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .seconds(5))
        timer.setEventHandler { _ = trim(0) }
        timer.resume()
    }

    func stop() {
        timer.cancel()
    }
}
