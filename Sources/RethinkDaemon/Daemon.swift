import FoundationEssentials
import Logging
import NIOCore
import NIOPosix
import RethinkBus
import RethinkCatalogue
import RethinkMessages
import RethinkRegistry
import RethinkRuntimeUA
import RethinkSandbox
import RethinkServices

private let RLIMIT_NOFILE_RESOURCE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// One core runtime: the MessageBUS, Registry, Runtime UA, sandbox and client socket wired together.
///
/// Everything that routes runs on one event loop (see `MessageBus`); the Registry and the Runtime UA are
/// actors beside it. `start()` returns once the socket is served; `stop()` undeploys every stub, closes the
/// socket and removes its file.
public final class Daemon: @unchecked Sendable {
    public static let version = "0.1.0"

    /// The configuration the daemon started with (socket, state directory, runtime domain stay as they are
    /// until a restart).
    public let configuration: DaemonConfiguration
    /// The configuration in force, reloads included. On the bus's loop.
    private var live: DaemonConfiguration
    public let addresses: RuntimeAddresses
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    public let bus: MessageBus
    let registry: Registry
    let ua: RuntimeUA
    /// Replaced by a reload that changes `discovery`.
    private var network: NetworkCatalogue?
    private let sandbox: Sandbox
    private var services: RuntimeServices!
    private var server: Channel?
    private var boundSocketPath: String?
    private var nextClient = 0
    /// Open client connections, on the bus's loop: a shutdown stops reading them, drains, then closes them.
    private var clientChannels: [ObjectIdentifier: Channel] = [:]
    private let refusals = RefusalLog()
    private let notifier: SystemdNotifier
    private let status: ServiceStatus
    private let credentialsDirectory: String?
    private var watchdog: RepeatedTask?
    private var trimmer: MemoryTrimmer?
    let metrics = RuntimeMetrics()
    private var metricsServer: MetricsServer?
    /// created → starting → serving → stopping → stopped.
    private let state = DaemonState()

    /// - Parameter environment: where systemd's variables (`NOTIFY_SOCKET`, `WATCHDOG_USEC`,
    ///   `CREDENTIALS_DIRECTORY`) are read; tests pass their own.
    public init(
        configuration: DaemonConfiguration, logger: Logger,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        self.live = configuration
        self.logger = logger
        notifier = SystemdNotifier(environment: environment)
        credentialsDirectory = environment["CREDENTIALS_DIRECTORY"].flatMap { $0.isEmpty ? nil : $0 }
        let runtimeID = try RuntimeUUID.load(stateDirectory: configuration.stateDirectory)
        addresses = RuntimeAddresses(runtimeDomain: configuration.runtimeDomain, runtimeID: runtimeID)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bus = MessageBus(
            eventLoop: group.next(), addresses: addresses, configuration: Self.busConfiguration(configuration),
            logger: logger, metrics: metrics.bus)
        self.bus = bus
        let status = ServiceStatus(eventLoop: bus.eventLoop, notifier: notifier)
        self.status = status
        let addresses = self.addresses
        registry = Registry(logger: logger) { change in
            bus.eventLoop.execute {
                bus.broadcast(change.message(addresses: addresses))
                status.stubChanged(change.domain, to: change.status)
            }
        }
        // No process of the daemon's uid (a stub in a user namespace is one) may read or write its memory.
        if !Sandbox.markNonDumpable() {
            logger.warning("could not mark the daemon non-dumpable (PR_SET_DUMPABLE)")
        }
        sandbox = try Sandbox(
            logger: logger, identities: IdentityPool(range: configuration.sandbox.uidRange),
            spawners: configuration.sandbox.spawners ?? Sandbox.defaultSpawnerCount,
            spawnHelpers: configuration.sandbox.spawnHelpers)
        if configuration.sandbox.spawnHelpers, sandbox.spawnHelperPIDs.count < sandbox.spawnerCount {
            logger.warning(
                "only \(sandbox.spawnHelperPIDs.count) of \(sandbox.spawnerCount) spawn helpers started (the kernel refused the clone): the other spawner threads fork stubs from the daemon itself")
        }
        if configuration.sandbox.spawnHelpers, sandbox.executedSpawnHelperCount < sandbox.spawnHelperPIDs.count {
            logger.notice(
                "\(sandbox.spawnHelperPIDs.count - sandbox.executedSpawnHelperCount) spawn helper(s) are forks of the daemon, not rethink-spawn-helper: \(sandbox.spawnHelperExecutable.map { "its execve failed (\($0))" } ?? "no trusted rethink-spawn-helper beside the daemon's executable (root- or daemon-owned, not group or world writable)"); stubs start a little slower")
        }
        do {
            try sandbox.prepare(
                defaultAction: configuration.sandbox.defaultAction, confined: configuration.sandbox.confinement == "full")
        } catch {
            logger.warning("could not prepare the sandbox's filters at start-up: \(error.message)")
        }
        Self.logIsolation(configuration.sandbox, logger: logger)
        if configuration.sandbox.confinement == "full", configuration.sandbox.landlock,
            configuration.sandbox.auditDenials, let reason = sandbox.watchLandlockDenials(enable: true)
        {
            logger.info("\(reason)")
        }
        Self.raiseOpenFileLimit(logger: logger)
        Self.presizeDescriptorTable()
        let parts = Self.uaParts(configuration, credentialsDirectory: credentialsDirectory)
        let network = try Daemon.makeNetworkCatalogue(configuration, sandbox: sandbox, logger: logger)
        self.network = network
        ua = RuntimeUA(
            bus: bus, registry: registry, sandbox: sandbox, catalogue: parts.catalogue, identities: parts.identities,
            packager: parts.packager, configuration: parts.configuration, logger: logger, network: network)
        bus.delegate = ua
    }

    /// Each stub holds six of the daemon's descriptors (three pipes, its pidfd, its seccomp listener and the
    /// supervisor's pidfd), so the usual soft limit of 1024 would stop it at about 160 stubs: the soft
    /// limit goes up to the hard one, as systemd intends (its LimitNOFILE= default is 1024:524288).
    private static func raiseOpenFileLimit(logger: Logger) {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_RESOURCE, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        let soft = limit.rlim_cur
        limit.rlim_cur = limit.rlim_max
        if setrlimit(RLIMIT_NOFILE_RESOURCE, &limit) != 0 {
            logger.warning("could not raise the open-file limit from \(soft) to \(limit.rlim_max)")
        }
    }

    /// The kernel grows a process's descriptor table by doubling it, and when the table is shared by threads
    /// it waits for an RCU grace period before freeing the old one: 15-25 ms on this VM, spent inside whichever
    /// `pipe2` or `accept` crossed 256, 512, 1024... descriptors, in the middle of a stub's deploy (it was first
    /// contact's p99: docs/BENCHMARK.md). Growing it once now, to the descriptors a busy daemon holds (the open-
    /// file limit, at most 65,536: a thousand stubs and ten thousand clients need 16,000), pays that wait at
    /// start-up instead. The table is kernel memory (8 bytes per slot), not the daemon's RSS.
    private static func presizeDescriptorTable() {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_RESOURCE, &limit) == 0 else { return }
        let slots = Int32(clamping: min(limit.rlim_cur, 65_536))
        guard slots > 1024 else { return }
        let probe = dup2(STDERR_FILENO, slots - 1)
        if probe >= 0 { close(probe) }
    }

    /// One line at start-up saying how stubs will be confined here, and what is missing on this kernel.
    private static func logIsolation(_ settings: DaemonConfiguration.SandboxSettings, logger: Logger) {
        guard settings.confinement == "full" else {
            logger.warning("sandbox.confinement is \"seccomp\": stubs run with seccomp and rlimits only, under the daemon's uid")
            return
        }
        let identity =
            Isolation.availableIdentity == .dedicated
            ? "a uid of its own from \(settings.uids)" : "a user namespace of its own (the daemon is unprivileged)"
        let abi = Sandbox.landlockABI
        let landlock =
            !settings.landlock
            ? "Landlock off (sandbox.landlock)"
            : abi == 0
                ? "no Landlock on this kernel: files are limited by the stub's uid and its own mount view only"
                : abi < 6
                    ? "Landlock ABI \(abi) (no signal or abstract-socket scoping before ABI 6; TCP ports need ABI 4)"
                    : "Landlock ABI \(abi)"
        let level: Logger.Level = abi < 6 || !settings.landlock ? .warning : .info
        if Isolation.availableIdentity == .userNamespace, !settings.landlock || abi == 0 {
            logger.warning(
                "sandbox: without Landlock an unprivileged daemon's stubs share its uid outside their namespaces: they can read and write what the daemon can (state, cache, credentials) and signal its processes; run the daemon as root (own uids) or keep Landlock on"
            )
        }
        logger.log(level: level, "sandbox: each stub runs with \(identity), \(landlock), a supervised network")
    }

    private static func busConfiguration(_ configuration: DaemonConfiguration) -> BusConfiguration {
        var bus = BusConfiguration()
        bus.responseTimeout = .seconds(fractional: configuration.responseTimeoutSeconds)
        bus.queueLimit = configuration.queueLimit
        bus.maxInFlightPerPeer = configuration.maxInFlightPerPeer
        bus.idleTimeout = .seconds(fractional: configuration.stubIdleSeconds)
        return bus
    }

    private static func uaParts(_ configuration: DaemonConfiguration, credentialsDirectory: String?) -> (
        catalogue: LocalCatalogue, identities: IdentityStore, packager: StubPackager, configuration: UAConfiguration
    ) {
        var interpreters: [StubLanguage: String] = [:]
        for (name, path) in configuration.interpreters {
            if let language = StubLanguage(descriptorValue: name) { interpreters[language] = path }
        }
        var uaConfiguration = UAConfiguration()
        uaConfiguration.handshakeTimeout = .seconds(fractional: configuration.handshakeTimeoutSeconds)
        uaConfiguration.defaultAction = configuration.sandbox.defaultAction
        uaConfiguration.limits = configuration.sandbox.limits
        uaConfiguration.isolation = configuration.sandbox.isolation
        uaConfiguration.isolation.domains = configuration.domains
        uaConfiguration.maxMessageBytes = configuration.maxMessageBytes
        uaConfiguration.stubLogRate = LogRateLimit(
            burst: configuration.stubLogBurst,
            interval: .seconds(fractional: configuration.stubLogIntervalSeconds))
        return (
            LocalCatalogue(directories: configuration.catalogues, binariesDirectory: Daemon.binariesDirectory),
            IdentityStore(
                directories: configuration.credentialsDirectories, systemdDirectory: credentialsDirectory),
            StubPackager(
                stateDirectory: configuration.stateDirectory, interpreters: interpreters,
                pythonPath: configuration.pythonPath, javascriptHost: configuration.javascriptHostSettings),
            uaConfiguration
        )
    }

    /// The directory of the daemon's own executable: bare `executable` stub names resolve there.
    static var binariesDirectory: String? { Sandbox.ownExecutableDirectory }

    /// Starts routing and serves the client socket: the one systemd passed (socket activation), else the
    /// configured path.
    public func start() async throws {
        guard state.move(from: [.created], to: .starting) else {
            throw ConfigurationError("the daemon was already started (it is \(state.current))")
        }
        await ua.start()
        await ua.startVersionChecks(every: configuration.discovery.configuration.versionCheckInterval)
        let services = RuntimeServices(
            bus: bus, registry: registry, ua: ua, admin: AdminPolicy(adminGroup: configuration.adminGroup),
            logger: logger)
        watchdog = notifier.startWatchdog(on: bus.eventLoop)
        trimmer = MemoryTrimmer()
        self.services = services
        try await bus.eventLoop.submit { [bus, metrics] in
            bus.start()
            metrics.start(on: bus.eventLoop)
            try services.start()
        }.get()
        server = try await bindClientSocket()
        await serveMetrics()
        try await bus.eventLoop.submit { [status] in status.sendNow(prefix: "READY=1\n") }.get()
        _ = state.move(from: [.starting], to: .serving)
        logger.info(
            "rethink-runtimed \(Daemon.version) serving \(boundSocketPath ?? "the socket passed by systemd") as \(addresses.runtimeURL)",
            metadata: ["catalogues": "\(configuration.catalogues.joined(separator: ", "))"])
    }

    private func bindClientSocket() async throws -> Channel {
        let bootstrap = ServerBootstrap(group: bus.eventLoop)
            // A burst of connects (thousands of clients at once) waits here rather than failing with EAGAIN;
            // the kernel caps it at net.core.somaxconn (4096 by default).
            .serverChannelOption(.backlog, value: 4096)
            // Larger reads mean more messages per batch and so fewer flushes (write syscalls, wake-ups); the
            // allocator grows a busy connection's reads up to 256 KiB. A connection starts at 2 KiB: each holds
            // its read buffer while it lives, and at 64 KiB 2,000 idle clients cost the daemon 140 MiB.
            .childChannelOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 2048, maximum: 262_144)
            )
            .childChannelOption(.maxMessagesPerRead, value: 8)
            // A client's output limit: past it, NIO reports the channel unwritable and the handler drops.
            .childChannelOption(
                .writeBufferWaterMark,
                value: ChannelOptions.Types.WriteBufferWaterMark(
                    low: configuration.clientOutputLimitBytes / 2, high: configuration.clientOutputLimitBytes))
            .childChannelInitializer { [bus, status, logger, sandbox] channel in
                channel.eventLoop.makeCompletedFuture {
                    self.nextClient += 1
                    let handler = ClientConnectionHandler(
                        bus: bus, number: self.nextClient, maxMessageBytes: self.live.maxMessageBytes,
                        version: Daemon.version, status: status, logger: logger, meters: self.metrics.clients,
                        refusals: self.refusals,
                        stallTimeout: .milliseconds(Int64(self.live.clientStallSeconds * 1000))
                    ) { pid, uid in
                        sandbox.isStub(pid: pid) || (uid != 0 && sandbox.identities.contains(uid))
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                    let key = ObjectIdentifier(channel)
                    self.clientChannels[key] = channel
                    channel.closeFuture.whenComplete { _ in self.clientChannels[key] = nil }
                }
            }
        if let descriptor = SocketActivation.listeningDescriptor() {
            return try await bootstrap.withBoundSocket(descriptor).get()
        }
        let channel = try await bootstrap.bindUnixSocket(at: configuration.socket, what: "client socket")
        boundSocketPath = configuration.socket
        return channel
    }

    /// The metrics' unix socket (and TCP address, if configured). A metrics socket that cannot be bound is
    /// logged, not fatal: the runtime serves its clients without it.
    private func serveMetrics() async {
        let (ua, bus, metrics) = (self.ua, self.bus, self.metrics)
        let server = MetricsServer(
            loop: bus.eventLoop, allow: { [weak self] peer in self?.services.admin.allows(peer) ?? false },
            render: { await metrics.render(busOn: bus, stubs: await ua.runningStubs()) })
        do {
            let tcp = try configuration.metricsListen.map { text throws(ConfigurationError) in try MetricsAddress(parsing: text) }
            try await server.start(socketPath: configuration.metricsSocketPath, tcp: tcp)
            metricsServer = server
            var place = configuration.metricsSocketPath ?? "no unix socket"
            if let listen = configuration.metricsListen { place += " and http://\(listen)/metrics" }
            logger.info("metrics served on \(place)")
        } catch {
            await server.stop()
            logger.error("metrics are not served: \(error)")
        }
    }

    /// Stops exactly (SPEC section 5): no new connection and no new line is read; the requests already read
    /// get their real answers for up to `shutdownDrainSeconds`; then every stub is undeployed, what still
    /// waits gets 503, and each connection is closed once what was written to it has gone (or after
    /// `closeGrace` for a client that does not read). The socket's file is removed.
    public func stop(closeGrace: TimeAmount = .seconds(2)) async {
        guard state.move(from: [.created, .starting, .serving], to: .stopping) else { return }
        defer { _ = state.move(from: [.stopping], to: .stopped) }
        notifier.notify("STOPPING=1\nSTATUS=answering the requests already read")
        watchdog?.cancel()
        trimmer?.stop()
        metrics.stop()
        await metricsServer?.stop()
        try? await server?.close()
        let (waiting, drainSeconds) =
            (try? await bus.eventLoop.submit { [self] in
                for channel in clientChannels.values { channel.setOption(ChannelOptions.autoRead, value: false) }
                return (bus.pendingCount, live.shutdownDrainSeconds)
            }.get()) ?? (0, 0)
        if waiting > 0 {
            logger.info("stopping: no new requests are read; \(waiting) already read wait for their answers")
            await drain(for: .seconds(fractional: drainSeconds))
        }
        notifier.notify("STATUS=undeploying stubs")
        logger.info("stopping: undeploying stubs")
        await ua.shutdown()
        try? await bus.eventLoop.submit { [bus] in bus.stop() }.get()
        await closeClients(grace: closeGrace)
        if let boundSocketPath { unlink(boundSocketPath) }
        sandbox.shutdown()
        try? await group.shutdownGracefully()
        logger.info("stopped")
    }

    /// Waits until no request waits for its answer, or `limit`.
    private func drain(for limit: TimeAmount) async {
        let deadline = NIODeadline.now() + limit
        let drained = try? await bus.eventLoop.submit { [bus] in bus.whenDrained(deadline: deadline) }.get()
        try? await drained?.get()
    }

    /// Closes every client connection after what was written to it: an empty write completes once every
    /// earlier one has reached the socket. A client that does not read is closed after `grace`.
    private func closeClients(grace: TimeAmount) async {
        let closed: [EventLoopFuture<Void>] =
            (try? await bus.eventLoop.submit { [self] in
                clientChannels.values.map { channel in
                    let timer = channel.eventLoop.scheduleTask(in: grace) { channel.close(promise: nil) }
                    channel.writeAndFlush(ByteBuffer()).whenComplete { _ in
                        timer.cancel()
                        channel.close(promise: nil)
                    }
                    return channel.closeFuture
                }
            }.get()) ?? []
        for future in closed { try? await future.get() }
    }

    /// Applies a reloaded configuration (`SIGHUP`) without dropping clients or stubs: catalogues, credentials,
    /// interpreters, limits and the sandbox settings for stubs deployed from now on. Settings that need a
    /// restart (socket, state directory, runtime domain, log target) keep their old value; the returned
    /// notes name them, for the log.
    public func reload(_ new: DaemonConfiguration) async throws(ConfigurationError) -> [String] {
        guard state.current == .serving else {
            throw ConfigurationError("the daemon is \(state.current), not serving: the reload is not applied")
        }
        try new.validate()
        var notes: [String] = []
        if new.socket != configuration.socket { notes.append("socket stays \(configuration.socket) until a restart") }
        if new.stateDirectory != configuration.stateDirectory {
            notes.append("stateDirectory stays \(configuration.stateDirectory) until a restart")
        }
        if new.runtimeDomain != configuration.runtimeDomain {
            notes.append("runtimeDomain stays \(configuration.runtimeDomain) until a restart")
        }
        if new.logTarget != configuration.logTarget || new.journalSocket != configuration.journalSocket {
            notes.append("the log target stays as it is until a restart")
        }
        if new.clientOutputLimitBytes != configuration.clientOutputLimitBytes {
            notes.append("clientOutputLimitBytes stays \(configuration.clientOutputLimitBytes) until a restart")
        }
        if new.sandbox.spawners != configuration.sandbox.spawners {
            notes.append("sandbox.spawners stays \(sandbox.spawnerCount) until a restart")
        }
        if new.sandbox.spawnHelpers != configuration.sandbox.spawnHelpers {
            notes.append("sandbox.spawnHelpers stays \(configuration.sandbox.spawnHelpers) until a restart")
        }
        var applied = new
        applied.socket = configuration.socket
        applied.stateDirectory = configuration.stateDirectory
        applied.runtimeDomain = configuration.runtimeDomain
        applied.logTarget = configuration.logTarget
        applied.journalSocket = configuration.journalSocket
        notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(NIODeadline.now().uptimeNanoseconds / 1000)")
        let parts = Self.uaParts(applied, credentialsDirectory: credentialsDirectory)
        let previous = (try? await bus.eventLoop.submit { [self] in live }.get()) ?? configuration
        var network = self.network
        if applied.discovery != previous.discovery {
            do {
                network = try Daemon.makeNetworkCatalogue(applied, sandbox: sandbox, logger: logger)
            } catch {
                throw error as? ConfigurationError ?? ConfigurationError("discovery: \(error)")
            }
        }
        await ua.reconfigure(
            catalogue: parts.catalogue, network: network, identities: parts.identities, packager: parts.packager,
            configuration: parts.configuration)
        self.network = network
        let busConfiguration = Self.busConfiguration(applied)
        let admin = AdminPolicy(adminGroup: applied.adminGroup)
        try? await bus.eventLoop.submit { [self, applied] in
            live = applied
            bus.reconfigure(busConfiguration)
            services.admin = admin
            status.sendNow(prefix: "READY=1\n")
        }.get()
        return notes
    }

    /// The PIDs of the running stubs (tests and status).
    public func stubPIDs() async -> [DomainKey: Int32] {
        await ua.runningStubs()
    }
}
