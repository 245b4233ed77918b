import CRethinkSpawn
import Dispatch
import Glibc
import Synchronization

/// The few long-lived threads every stub is forked from.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not the process:
/// stubs forked from Swift's cooperative pool or from Dispatch were killed seconds later when
/// an idle worker retired. Forking from threads that live as long as the ``Sandbox`` ties the
/// stubs' lives to the sandbox instead: when these threads stop, every stub still running gets
/// SIGKILL.
///
/// There are several because a spawn holds its thread until the child has exec'd (the C shim
/// reads the child's error pipe to its EOF): with one thread, deploys in flight together waited
/// for each child's whole set-up in turn (namespaces, mounts, filters, execve), while the cores
/// had time to spare. With a few, one child sets itself up while the next is cloned.
final class SpawnerPool: Sendable {
    /// The threads a sandbox starts: two per core, at least two and at most eight. More would only
    /// queue on the daemon's memory map, which every clone locks while it copies the page tables.
    static var defaultSize: Int {
        min(8, max(2, 2 * sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var stopping = false
    }

    private let state = Mutex(State())
    private let wakeup = DispatchSemaphore(value: 0)
    /// How many threads run.
    let size: Int

    init(size: Int = SpawnerPool.defaultSize) throws(SandboxError) {
        self.size = max(1, size)
        for index in 0..<self.size {
            let result = Self.startThread(for: self, index: index)
            guard result == 0 else {
                stop(threads: index)
                throw SandboxError(
                    .spawnerUnavailable,
                    "could not start spawner thread \(index + 1) of \(self.size): \(SandboxError.describe(errno: result)); "
                        + "the daemon may have reached its thread limit", errno: result)
            }
        }
    }

    /// Runs `job` on one of the spawner threads. Returns false, without running it, once stopped.
    func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        let accepted = state.withLock { state in
            guard !state.stopping else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { wakeup.signal() }
        return accepted
    }

    /// Lets queued jobs finish, then ends every thread.
    func stop() {
        stop(threads: size)
    }

    private func stop(threads: Int) {
        let wasRunning = state.withLock { state in
            defer { state.stopping = true }
            return !state.stopping
        }
        guard wasRunning else { return }
        for _ in 0..<threads { wakeup.signal() }
    }

    private static func startThread(for pool: SpawnerPool, index: Int) -> CInt {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Started(pool: pool, name: "rt-spawner-\(index)")).toOpaque()
        let result = pthread_create(
            &thread, nil,
            { context in
                let started = Unmanaged<Started>.fromOpaque(context!).takeRetainedValue()
                _ = rt_set_thread_name(started.name)
                started.pool.run()
                return nil
            }, context)
        guard result == 0 else {
            Unmanaged<Started>.fromOpaque(context).release()
            return result
        }
        pthread_detach(thread)
        return 0
    }

    /// What a new thread is given.
    private final class Started {
        let pool: SpawnerPool
        let name: String
        init(pool: SpawnerPool, name: String) {
            self.pool = pool
            self.name = name
        }
    }

    /// One job at a time, in the order submitted; returns once stopping with nothing left queued.
    /// (`removeFirst` moves the rest of the queue, a few hundred jobs at most: nothing beside a clone.)
    private func run() {
        while true {
            wakeup.wait()
            let (job, stopping) = state.withLock { state in
                (state.jobs.isEmpty ? nil : state.jobs.removeFirst(), state.stopping)
            }
            if let job {
                job()
            } else if stopping {
                return
            }
        }
    }
}
