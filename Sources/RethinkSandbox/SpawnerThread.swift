import Dispatch
import Glibc
import Synchronization

/// The one long-lived thread every stub is forked from.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not the process:
/// stubs forked from Swift's cooperative pool or from Dispatch were killed seconds later when
/// an idle worker retired. Forking from a thread that lives as long as the ``Sandbox`` ties the
/// stubs' lives to the sandbox instead: when this thread stops, every stub still running gets
/// SIGKILL.
final class SpawnerThread: Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var stopping = false
    }

    private let state = Mutex(State())
    private let wakeup = DispatchSemaphore(value: 0)

    init() throws(SandboxError) {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(
            &thread, nil,
            { context in
                let spawner = Unmanaged<SpawnerThread>.fromOpaque(context!).takeRetainedValue()
                spawner.run()
                return nil
            }, context)
        guard result == 0 else {
            Unmanaged<SpawnerThread>.fromOpaque(context).release()
            throw SandboxError(
                .spawnerUnavailable,
                "could not start the spawner thread: \(SandboxError.describe(errno: result)); "
                    + "the daemon may have reached its thread limit", errno: result)
        }
        pthread_detach(thread)
    }

    /// Runs `job` on the spawner thread. Returns false, without running it, once stopped.
    func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        let accepted = state.withLock { state in
            guard !state.stopping else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { wakeup.signal() }
        return accepted
    }

    /// Lets queued jobs finish, then ends the thread.
    func stop() {
        let wasRunning = state.withLock { state in
            defer { state.stopping = true }
            return !state.stopping
        }
        if wasRunning { wakeup.signal() }
    }

    private func run() {
        while true {
            wakeup.wait()
            let (jobs, stopping) = state.withLock { state in
                defer { state.jobs.removeAll() }
                return (state.jobs, state.stopping)
            }
            for job in jobs { job() }
            if stopping { return }
        }
    }
}
