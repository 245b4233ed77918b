import FoundationEssentials
import Glibc
import Logging
import NIOCore
import NIOPosix
import RethinkFetchWire
import RethinkMessages
import RethinkSandbox

/// Runs `rethink-fetch` for one GET, under the same sandbox as a stub: a uid of its own (or a user
/// namespace), seccomp, Landlock over the system files, and a network policy that names the one host the
/// GET goes to. So the TLS library and the HTTP parser that read a server's bytes never run in the daemon,
/// and a fetcher they let an attacker into reaches nothing else: not the daemon's memory, files or sockets,
/// not another host. What it brings back is only data: the daemon checks the digest and the signature.
public struct FetcherLauncher: Sendable {
    /// How the fetcher is confined: the daemon's `sandbox` settings.
    public struct Settings: Sendable {
        /// false: seccomp and rlimits only (`"confinement": "seccomp"`).
        public var confined: Bool
        public var landlock: Bool
        public var defaultAction: SandboxPolicy.DefaultAction

        public init(confined: Bool, landlock: Bool, defaultAction: SandboxPolicy.DefaultAction) {
            self.confined = confined
            self.landlock = landlock
            self.defaultAction = defaultAction
        }
    }

    /// `rethink-fetch` beside the daemon's executable, as `make install` puts it: a regular executable only
    /// root or the daemon's user can write, in a directory only they can write; nil otherwise.
    public static var installedExecutable: String? { Sandbox.installedExecutable(named: "rethink-fetch") }

    private let sandbox: Sandbox
    private let executable: String?
    private let settings: Settings
    private let workingDirectory: String
    private let logger: Logger

    public init(
        sandbox: Sandbox, executable: String? = FetcherLauncher.installedExecutable, settings: Settings,
        stateDirectory: String, logger: Logger
    ) {
        self.sandbox = sandbox
        self.executable = executable
        self.settings = settings
        self.workingDirectory = stateDirectory + "/fetch"
        self.logger = logger
    }

    /// The reply to `request` and its body. `destination` is what the fetcher may connect to; `timeout`
    /// bounds the whole run (the fetcher keeps its own deadline; this one stops a fetcher that does not).
    func run(_ request: FetchRequest, destination: NetworkDestination, timeout: Duration)
        async throws(StubFetcher.Failure) -> (FetchReply, [UInt8])
    {
        guard let executable else {
            throw StubFetcher.Failure(
                kind: .refused,
                description:
                    "cannot fetch \(request.url): rethink-fetch is not beside the daemon's executable (or anyone but root and the daemon's user may write it); reinstall with `make install`"
            )
        }
        let process = try await spawn(executable, request: request, destination: destination)
        defer { process.signal(SIGKILL) }
        let line: [UInt8]
        do {
            line = Array(try JSONEncoder().encode(request)) + [UInt8(ascii: "\n")]
        } catch {
            throw StubFetcher.Failure(kind: .refused, description: "cannot encode the request for \(request.url)")
        }
        let limit = request.limit + FetchReply.maximumLineBytes
        let output = await withTaskGroup(of: Optional<Output>.self) { group in
            group.addTask { await Self.exchange(process, line: line, limit: limit) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let output else {
            throw StubFetcher.Failure(
                kind: .timedOut,
                description: "\(request.url) did not arrive within \(timeout) (the fetcher was stopped)")
        }
        do throws(StubFetcher.Failure) {
            return try Self.parse(output, request: request)
        } catch {
            // How it ended says more than the missing reply: a signal, an exit status.
            for _ in 0..<50 where !process.hasExited { try? await Task.sleep(for: .milliseconds(10)) }
            let ended = process.exitStatus.map { " (it \($0))" } ?? ""
            throw StubFetcher.Failure(kind: error.kind, description: error.description + ended)
        }
    }

    private func spawn(_ executable: String, request: FetchRequest, destination: NetworkDestination)
        async throws(StubFetcher.Failure) -> SandboxedProcess
    {
        var files = Isolation.systemFiles + Self.runtimeLibraryDirectories.map { Isolation.FileRule($0, .read) }
        if let bundle = request.caBundle { files.append(Isolation.FileRule(bundle, .read)) }
        let isolation =
            settings.confined
            ? Isolation(
                identity: Isolation.availableIdentity, files: files, landlock: settings.landlock,
                scratchBytes: 1 << 20,
                network: NetworkPolicy(connect: [destination], resolvers: NetworkPolicy.systemResolvers()), nice: 0)
            : nil
        do {
            try FileManager.default.createDirectory(
                atPath: workingDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StubFetcher.Failure(
                kind: .refused, description: "cannot create the fetcher's directory \(workingDirectory): \(error)")
        }
        let spawn = SpawnRequest(
            executable: executable, arguments: [executable],
            // No crash backtracer: it cannot inspect a process in the sandbox, and its noise would hide the message.
            environment: [
                "PATH": "/usr/bin:/bin", "HOME": workingDirectory, "LANG": "C.UTF-8", "SWIFT_BACKTRACE": "enable=no",
            ],
            workingDirectory: workingDirectory,
            policy: SandboxPolicy.forLanguage(.executable, defaultAction: settings.defaultAction, isolation: isolation))
        let logger = self.logger
        let url = request.url
        do throws(SandboxError) {
            return try await sandbox.spawn(spawn, metadata: ["rethink_fetch": "\(url)"]) { status in
                if status != .exited(0) { logger.debug("the fetcher of \(url) ended: \(status)") }
            }
        } catch {
            throw StubFetcher.Failure(
                kind: .refused, description: "cannot start the fetcher for \(url): \(error.message)")
        }
    }

    /// What came back from one fetcher: its stdout (at most the limit and a little), the last 2 KiB of its
    /// stderr, and what went wrong with the pipes, if anything.
    struct Output: Sendable {
        var out: [UInt8] = []
        var err: [UInt8] = []
        var problem: String?
    }

    /// Writes the request line, then reads stdout (at most `limit` bytes) and stderr to their ends.
    private static func exchange(_ process: SandboxedProcess, line: [UInt8], limit: Int) async -> Output {
        let group = MultiThreadedEventLoopGroup.singleton
        var output = Output()
        do {
            let channel = try await NIOPipeBootstrap(group: group)
                .takingOwnershipOfDescriptors(input: process.stdoutFD, output: process.stdinFD) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            let errors = try await NIOPipeBootstrap(group: group)
                .takingOwnershipOfDescriptor(input: process.stderrFD) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, Never>(wrappingChannelSynchronously: channel)
                    }
                }
            async let err: [UInt8] =
                (try? await errors.executeThenClose { inbound in
                    var tail: [UInt8] = []
                    for try await chunk in inbound {
                        tail += chunk.readableBytesView
                        if tail.count > 2048 { tail.removeFirst(tail.count - 2048) }
                    }
                    return tail
                }) ?? []
            do {
                try await channel.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(bytes: line))
                    for try await chunk in inbound {
                        output.out += chunk.readableBytesView
                        if output.out.count > limit { break }
                    }
                }
            } catch {
                output.problem = "its pipe failed: \(error)"
            }
            if output.out.count > limit { process.signal(SIGKILL) }
            output.err = await err
        } catch {
            output.problem = "its pipes could not be attached: \(error)"
        }
        return output
    }

    static func parse(_ fetched: Output, request: FetchRequest) throws(StubFetcher.Failure) -> (FetchReply, [UInt8]) {
        let output = fetched.out
        func broken(_ what: String) -> StubFetcher.Failure {
            let said = String(decoding: fetched.err, as: UTF8.self).trimmingWhitespace()
            return StubFetcher.Failure(
                kind: .unreachable,
                description:
                    "the fetcher of \(request.url) \(what)\(fetched.problem.map { "; \($0)" } ?? "")\(said.isEmpty ? "" : "; it said: \(said)")"
            )
        }
        guard let newline = output.prefix(FetchReply.maximumLineBytes).firstIndex(of: UInt8(ascii: "\n")) else {
            throw broken("ended without a reply (\(output.count) bytes written)")
        }
        guard let reply = try? JSONDecoder().decode(FetchReply.self, from: Data(output[..<newline])) else {
            throw broken("wrote a reply that is not one")
        }
        let body = Array(output[(newline + 1)...])
        if reply.failure == nil {
            guard reply.status != nil, let count = reply.bodyBytes, count == body.count, count <= request.limit else {
                throw broken("wrote a reply whose body does not match it")
            }
        }
        return (reply, body)
    }

    /// Where this process's Swift runtime libraries are, when it loaded them from outside the system's
    /// library directories (a debug build, linked against the toolchain): the fetcher, built beside it, needs
    /// them too. Empty for a release build, whose runtime is linked in.
    static let runtimeLibraryDirectories: [String] = {
        // Read line by line: /proc files have no size, and a whole-file read sees them empty.
        guard let maps = fopen("/proc/self/maps", "r") else { return [] }
        defer { fclose(maps) }
        var directories: Set<String> = []
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, maps) > 0, let line {
            let text = String(cString: line).trimmingWhitespace()
            guard let slash = text.firstIndex(of: "/") else { continue }
            let path = text[slash...]
            guard path.hasSuffix("/libswiftCore.so") || path.hasSuffix("/libFoundationEssentials.so") else { continue }
            let directory = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
            if !directory.hasPrefix("/usr/lib/") { directories.insert(directory) }
        }
        return directories.sorted()
    }()
}
