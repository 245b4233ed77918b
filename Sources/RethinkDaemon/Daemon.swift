import Foundation
import Logging
import NIOCore
import NIOPosix
import RethinkBus
import RethinkMessages
import RethinkRegistry
import RethinkRuntimeUA
import RethinkSandbox

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

    public let configuration: DaemonConfiguration
    public let addresses: RuntimeAddresses
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    public let bus: MessageBus
    let registry: Registry
    let ua: RuntimeUA
    private let network: NetworkCatalogue?
    private let sandbox: Sandbox
    private var services: RuntimeServices!
    private var server: Channel?
    private var boundSocketPath: String?
    private var nextClient = 0
    private let notifier = SystemdNotifier()

    public init(configuration: DaemonConfiguration, logger: Logger) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        let runtimeID = try RuntimeIdentity.load(stateDirectory: configuration.stateDirectory)
        addresses = RuntimeAddresses(runtimeDomain: configuration.runtimeDomain, runtimeID: runtimeID)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var busConfiguration = BusConfiguration()
        busConfiguration.responseTimeout = .nanoseconds(Int64(configuration.responseTimeoutSeconds * 1e9))
        busConfiguration.queueLimit = configuration.queueLimit
        let bus = MessageBus(
            eventLoop: group.next(), addresses: addresses, configuration: busConfiguration, logger: logger)
        self.bus = bus
        let addresses = self.addresses
        registry = Registry(logger: logger) { change in
            bus.eventLoop.execute { bus.broadcast(change.message(addresses: addresses)) }
        }
        sandbox = try Sandbox(logger: logger)
        var interpreters: [StubLanguage: String] = [:]
        for (name, path) in configuration.interpreters {
            if let language = StubLanguage(descriptorValue: name) { interpreters[language] = path }
        }
        var uaConfiguration = UAConfiguration()
        uaConfiguration.handshakeTimeout = .nanoseconds(Int64(configuration.handshakeTimeoutSeconds * 1e9))
        uaConfiguration.defaultAction = configuration.sandbox.defaultAction
        uaConfiguration.limits = configuration.sandbox.limits
        uaConfiguration.maxMessageBytes = configuration.maxMessageBytes
        let network = try Daemon.makeNetworkCatalogue(configuration, logger: logger)
        self.network = network
        ua = RuntimeUA(
            bus: bus, registry: registry, sandbox: sandbox,
            catalogue: LocalCatalogue(
                directories: configuration.catalogues, binariesDirectory: Daemon.binariesDirectory),
            identities: IdentityStore(directories: configuration.credentialsDirectories),
            packager: StubPackager(
                stateDirectory: configuration.stateDirectory, interpreters: interpreters,
                pythonPath: configuration.pythonPath),
            configuration: uaConfiguration, logger: logger, network: network)
        bus.delegate = ua
    }

    /// The directory of the daemon's own executable: bare `executable` stub names resolve there.
    static var binariesDirectory: String? {
        guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            return nil
        }
        return (path as NSString).deletingLastPathComponent
    }

    /// Starts routing and serves the client socket: the one systemd passed (socket activation), else the
    /// configured path.
    public func start() async throws {
        await ua.start()
        await ua.startVersionChecks(every: configuration.discovery.configuration.versionCheckInterval)
        let services = RuntimeServices(
            bus: bus, registry: registry, ua: ua, admin: AdminPolicy(adminGroup: configuration.adminGroup),
            logger: logger)
        self.services = services
        try await bus.eventLoop.submit { [bus] in
            bus.start()
            try services.start()
        }.get()
        server = try await bindClientSocket()
        notifier.notify("READY=1\nSTATUS=serving \(boundSocketPath ?? "the socket passed by systemd")")
        logger.info(
            "rethink-runtimed \(Daemon.version) serving \(boundSocketPath ?? "the socket passed by systemd") as \(addresses.runtimeURL)",
            metadata: ["catalogues": "\(configuration.catalogues.joined(separator: ", "))"])
    }

    private func bindClientSocket() async throws -> Channel {
        let bootstrap = ServerBootstrap(group: bus.eventLoop)
            .serverChannelOption(.backlog, value: 256)
            // Larger reads mean more messages per batch and so fewer flushes (write syscalls, wake-ups).
            .childChannelOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 65536, maximum: 262_144)
            )
            .childChannelOption(.maxMessagesPerRead, value: 8)
            .childChannelInitializer { [bus, configuration, logger] channel in
                channel.eventLoop.makeCompletedFuture {
                    self.nextClient += 1
                    let handler = ClientConnectionHandler(
                        bus: bus, number: self.nextClient, maxMessageBytes: configuration.maxMessageBytes,
                        version: Daemon.version,
                        logger: logger)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        if let descriptor = SocketActivation.listeningDescriptor() {
            return try await bootstrap.withBoundSocket(descriptor).get()
        }
        let path = configuration.socket
        try SocketActivation.prepareSocketPath(path)
        let channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        chmod(path, 0o666)
        boundSocketPath = path
        return channel
    }

    /// Undeploys every stub, closes the socket and removes its file; requests still waiting get 503.
    public func stop() async {
        notifier.notify("STOPPING=1\nSTATUS=undeploying stubs")
        logger.info("stopping: undeploying stubs")
        try? await server?.close()
        await ua.shutdown()
        await network?.shutdown()
        try? await bus.eventLoop.submit { [bus] in bus.stop() }.get()
        if let boundSocketPath { unlink(boundSocketPath) }
        sandbox.shutdown()
        try? await group.shutdownGracefully()
        logger.info("stopped")
    }

    /// The PIDs of the running stubs (tests and status).
    public func stubPIDs() async -> [DomainKey: Int32] {
        await ua.runningStubs()
    }
}
