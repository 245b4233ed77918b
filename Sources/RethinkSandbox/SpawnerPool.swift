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
///
/// Each thread forks its own spawn helper when it starts (`rt_spawn_helper_start`, SpawnHelper.c), while
/// the daemon is small, and hands its jobs the helper's socket: a clone of the helper copies a few hundred
/// KiB of page tables and a handful of descriptors, where a clone of a daemon running a thousand stubs
/// copied 120 MiB of mappings and 6,000 descriptors. Given the `rethink-spawn-helper` executable, the forked
/// helper execs it at once, which shrinks its address space to that static binary's. A thread whose helper
/// cannot start, or dies, forks in process.
final class SpawnerPool: Sendable {
    /// A job: runs on a spawner thread with that thread's helper socket (-1: none), which it may set to -1
    /// when it finds the helper gone.
    typealias Job = @Sendable (inout CInt) -> Void

    /// The threads a sandbox starts: two per core, at least two and at most eight. More would only
    /// queue on the daemon's memory map, which every clone locks while it copies the page tables.
    static var defaultSize: Int {
        min(8, max(2, 2 * sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    private struct State {
        var jobs: [Job] = []
        var stopping = false
    }

    private let state = Mutex(State())
    private let wakeup = DispatchSemaphore(value: 0)
    /// Signalled once by each thread when its helper is started (or could not be).
    private let ready = DispatchSemaphore(value: 0)
    private let helperPIDs = Mutex<[Int32]>([])
    /// How many threads run.
    let size: Int
    /// Whether each thread forks through a spawn helper.
    let usesHelpers: Bool
    /// The helper program the helpers exec (nil: they stay forks of this process).
    let helperExecutable: String?
    private let executedHelpers = Mutex(0)

    init(size: Int = SpawnerPool.defaultSize, helpers: Bool = true, helperExecutable: String? = nil)
        throws(SandboxError)
    {
        self.size = max(1, size)
        self.usesHelpers = helpers
        self.helperExecutable = helpers ? helperExecutable : nil
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
        // The helpers are forked now, while the caller is as small as it will be.
        for _ in 0..<self.size { ready.wait() }
    }

    /// Runs `job` on one of the spawner threads. Returns false, without running it, once stopped.
    func submit(_ job: @escaping Job) -> Bool {
        let accepted = state.withLock { state in
            guard !state.stopping else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { wakeup.signal() }
        return accepted
    }

    /// The pids of the spawn helpers the threads started (one found dead later is still listed).
    var helpers: [Int32] { helperPIDs.withLock { $0 } }

    /// How many of those run ``helperExecutable`` (the others are forks of this process: its execve failed).
    var executedHelperCount: Int { executedHelpers.withLock { $0 } }

    /// Lets queued jobs finish, then ends every thread (and its helper).
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
        var helper: CInt = -1
        var helperPidfd: CInt = -1
        if usesHelpers {
            var pid: pid_t = 0
            var executed: CInt = 0
            let started = helperExecutable.withOptionalCString {
                rt_spawn_helper_start($0, &helper, &pid, &helperPidfd, &executed)
            }
            if started == 0 {
                helperPIDs.withLock { $0.append(pid) }
                if executed != 0 { executedHelpers.withLock { $0 += 1 } }
            } else {
                helper = -1
                helperPidfd = -1
            }
        }
        ready.signal()
        defer { rt_spawn_helper_stop(helper, helperPidfd) }
        while true {
            wakeup.wait()
            let (job, stopping) = state.withLock { state in
                (state.jobs.isEmpty ? nil : state.jobs.removeFirst(), state.stopping)
            }
            if let job {
                let hadHelper = helper >= 0
                job(&helper)
                // The job found the helper gone (its socket failed): it is reaped now, not at shutdown.
                if hadHelper && helper < 0 {
                    rt_spawn_helper_discard(helperPidfd)
                    helperPidfd = -1
                }
            } else if stopping {
                return
            }
        }
    }
}

extension Optional where Wrapped == String {
    /// The C string of the value, or NULL, for the length of `body`.
    fileprivate func withOptionalCString<Result>(_ body: (UnsafePointer<CChar>?) -> Result) -> Result {
        switch self {
        case .some(let string): string.withCString { body($0) }
        case .none: body(nil)
        }
    }
}
