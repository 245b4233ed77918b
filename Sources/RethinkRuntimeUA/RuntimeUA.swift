import Dispatch
import FoundationEssentials
import Logging
import NIOCore
import NIOPosix
import RethinkBus
import RethinkCatalogue
import RethinkMessages
import RethinkRegistry
import RethinkSandbox

/// The Runtime UA (SPEC section 1): deploys a domain's stub on demand (descriptor, package, sandbox,
/// handshake), redeploys it after a crash with backoff, gives up on it when it keeps crashing, and
/// undeploys it.
///
/// An actor: deploys, exits and operator requests arrive concurrently. Events from the bus and the sandbox
/// come through one ordered stream, so a stub's reported statuses reach the Registry in the order sent.
public actor RuntimeUA: BusDelegate {
    enum Event: Sendable {
        case needsStub(DomainKey)
        case reported(url: String, domain: DomainKey, status: StubStatus, desc: String?)
        case violations(url: String, domain: DomainKey)
        case exited(url: String, domain: DomainKey, status: ExitStatus)
        case idle(url: String, domain: DomainKey)
    }

    let bus: MessageBus
    let registry: Registry
    let sandbox: Sandbox
    private(set) var catalogue: LocalCatalogue
    /// The network catalogue; nil when discovery is off.
    private(set) var network: NetworkCatalogue?
    var identities: IdentityStore
    private(set) var packager: StubPackager
    private(set) var configuration: UAConfiguration
    let logger: Logger
    let events: AsyncStream<Event>.Continuation
    private let eventStream: AsyncStream<Event>
    private var pump: Task<Void, Never>?

    /// Each domain's deploy under way and stub processes, each process one ``StubLifecycle``.
    private(set) var domains: [DomainKey: DomainStubs] = [:]
    var versionChecks: Task<Void, Never>?
    var shuttingDown = false
    /// The "no descriptor" lines of deployments for unknown domains.
    var unknownDomainLog = LogRateLimit(burst: 100, interval: .seconds(10))

    func markShuttingDown() {
        shuttingDown = true
    }

    public init(
        bus: MessageBus, registry: Registry, sandbox: Sandbox, catalogue: LocalCatalogue, identities: IdentityStore,
        packager: StubPackager, configuration: UAConfiguration, logger: Logger, network: NetworkCatalogue? = nil
    ) {
        self.network = network
        self.bus = bus
        self.registry = registry
        self.sandbox = sandbox
        self.catalogue = catalogue
        self.identities = identities
        self.packager = packager
        self.configuration = configuration
        self.logger = logger
        (eventStream, events) = AsyncStream.makeStream(of: Event.self)
    }

    /// Applies a reloaded configuration (`SIGHUP`): the next deploy uses the new catalogue, credentials,
    /// interpreters and limits; running stubs are left as they are.
    public func reconfigure(
        catalogue: LocalCatalogue, network: NetworkCatalogue?, identities: IdentityStore, packager: StubPackager,
        configuration: UAConfiguration
    ) {
        self.catalogue = catalogue
        self.network = network
        self.identities = identities
        self.packager = packager
        self.configuration = configuration
    }

    /// Starts taking events. Call once before traffic flows.
    public func start() {
        let stream = eventStream
        pump = Task { [weak self] in
            for await event in stream {
                guard let self else { return }
                await self.handle(event)
            }
        }
    }

    // MARK: BusDelegate (called on the bus's event loop)

    nonisolated public func bus(_ bus: MessageBus, needsStubFor domain: DomainKey) {
        events.yield(.needsStub(domain))
    }

    nonisolated public func bus(
        _ bus: MessageBus, stub url: String, of domain: DomainKey, reported status: StubStatus, desc: String?
    ) {
        events.yield(.reported(url: url, domain: domain, status: status, desc: desc))
    }

    nonisolated public func bus(_ bus: MessageBus, stubExceededViolations url: String, of domain: DomainKey) {
        events.yield(.violations(url: url, domain: domain))
    }

    nonisolated public func bus(_ bus: MessageBus, stubIdle url: String, of domain: DomainKey) {
        events.yield(.idle(url: url, domain: domain))
    }

    private func handle(_ event: Event) async {
        switch event {
        case .needsStub(let domain):
            _ = deployTask(for: domain)
        case .reported(let url, let domain, let status, let desc):
            // The stub answered its deploy message: from here on its exit is a crash, even if the deploy
            // task has not resumed yet (this stream orders the answer before the exit).
            if status == .deployed { change(domain) { _ = $0.update(url) { $0.answered() } } }
            await registry.apply(status, to: url, desc: desc, reason: .reported)
        case .violations(let url, let domain):
            guard let instance = domains[domain]?.usable, instance.url == url else { return }
            let reason =
                "stopped: it sent more than \(bus.configuration.violationLimit) messages outside its domain within \(bus.configuration.violationWindow.nanoseconds / 1_000_000_000) s"
            await registry.apply(.failed, to: url, desc: reason, reason: .violations)
            Task { await self.stop(instance, code: 502, desc: "stub \(url) \(reason)") }
        case .exited(let url, let domain, let status):
            await processExited(url: url, domain: domain, status: status)
        case .idle(let url, let domain):
            await retireIdle(url, of: domain)
        }
    }

    // MARK: Deploying

    /// Deploys `domain`'s stub unless one runs or is on its way; returns its URL once it answered the deploy
    /// message (status `deployed`), or why it could not be deployed.
    public func deploy(_ domain: DomainKey) async -> Result<String, DeploymentFailure> {
        await deployTask(for: domain).value
    }

    private func deployTask(for domain: DomainKey) -> Task<Result<String, DeploymentFailure>, Never> {
        if let task = domains[domain]?.deployment { return task }
        if let instance = domains[domain]?.usable { return Task { .success(instance.url) } }
        let task = Task { await self.performDeploy(domain) }
        change(domain) { $0.deployment = task }
        return task
    }

    /// Applies `body` to `domain`'s entry, made when missing and dropped when left empty. Synchronous, so that
    /// no other event of the actor sees a half-made change.
    @discardableResult
    func change<Result>(_ domain: DomainKey, _ body: (inout DomainStubs) -> Result) -> Result {
        var stubs = domains.removeValue(forKey: domain) ?? DomainStubs()
        let result = body(&stubs)
        if !stubs.isEmpty { domains[domain] = stubs }
        return result
    }

    private func performDeploy(_ domain: DomainKey) async -> Result<String, DeploymentFailure> {
        defer { change(domain) { $0.deployment = nil } }
        guard !shuttingDown else { return .failure(DeploymentFailure(.spawn, "the runtime is shutting down")) }
        let started = NIODeadline.now()
        let clock = ContinuousClock()
        let lookupStart = clock.now
        let descriptor: Descriptor
        let identity: JSONValue?
        do {
            descriptor = try await findDescriptor(domain)
            identity = try identities.identity(for: domain)
        } catch {
            // A domain nobody publishes is a client's mistake, and a client can name any number of them: those
            // lines are limited (100 per 10 s, then a count); a refused package always gets its line.
            let notFound = error.code == .noDescriptor
            let (write, suppressed) = notFound ? unknownDomainLog.admit() : (true, nil)
            if let suppressed {
                logger.notice("\(suppressed) more deployment(s) for domains with no descriptor were not logged")
            }
            if write {
                logger.log(
                    level: notFound ? .notice : .warning,
                    "cannot deploy a stub for \(domain): \(error.message)",
                    metadata: StubMetadata.of(
                        domain: domain, status: "deployment-failed", reason: error.reason,
                        messageID: JournalMessageID.packageRefused))
            }
            await onLoop { $0.setStatus(.deploymentFailed, of: domain, stub: nil, desc: error.message, failure: error) }
            return .failure(error)
        }
        var timings = DeployTimings()
        timings.catalogue = clock.now - lookupStart
        let url = await registry.allocate(
            domain: domain, version: descriptor.version, interworking: descriptor.interworking)
        var instance: StubInstance?
        do {
            _ = try await launch(
                descriptor, identity: identity, domain: domain, url: url, successor: false, timings: timings
            ) {
                instance = $0
            }
            bus.metrics.meters(for: domain).deploys.recordNanoseconds(
                Int64(clamping: (NIODeadline.now() - started).nanoseconds))
            return .success(url)
        } catch {
            let reason = "\(domain)'s stub \(url) was not deployed: \(error.message)"
            await registry.apply(.deploymentFailed, to: url, desc: error.message, reason: (error as? DeploymentFailure)?.reason)
            let failure = error as? DeploymentFailure ?? DeploymentFailure(.spawn, error.message)
            await onLoop { $0.setStatus(.deploymentFailed, of: domain, stub: url, desc: error.message, failure: failure) }
            logger.error(
                "\(reason)",
                metadata: StubMetadata.of(
                    url: url, domain: domain, status: "deployment-failed", reason: (error as? DeploymentFailure)?.reason,
                    messageID: JournalMessageID.packageRefused))
            if let instance {
                await stop(instance, code: 502, desc: reason, sendDelete: false)
            } else {
                change(domain) { $0.remove(url) }
            }
            return .failure(failure)
        }
    }

    /// Spawns `descriptor`'s stub at `url`, wraps its pipes, sends the deploy message and waits for the answer.
    /// `attached` gets the instance as soon as it exists (to record it, and to stop it if the handshake fails).
    /// A `successor` is attached beside the domain's current stub and gets no traffic until promoted. Each phase
    /// is timed into `timings` (which holds the catalogue's) and handed to the Registry once answered.
    func launch(
        _ descriptor: Descriptor, identity: JSONValue?, domain: DomainKey, url: String, successor: Bool,
        timings: DeployTimings = DeployTimings(), attached: (StubInstance) -> Void
    ) async throws -> StubInstance {
        var timings = timings
        let clock = ContinuousClock()
        var lap = clock.now
        func phase() -> Duration {
            let now = clock.now
            defer { lap = now }
            return now - lap
        }
        let packagePath = try await fetchPackage(descriptor)
        let prepared = try packager.prepare(
            descriptor, packagePath: packagePath, stubURL: url, runtimeURL: bus.addresses.runtimeURL)
        let isolation = try StubIsolation.make(
            for: descriptor, prepared: prepared, pythonPath: packager.pythonPath, settings: configuration.isolation,
            logger: logger)
        let policy = SandboxPolicy.forLanguage(
            descriptor.language, defaultAction: configuration.defaultAction,
            limits: StubIsolation.limits(configuration.limits, for: domain, settings: configuration.isolation),
            isolation: isolation)
        let request = SpawnRequest(
            executable: prepared.executable, arguments: prepared.arguments, environment: prepared.environment,
            workingDirectory: prepared.workingDirectory, policy: policy)
        let events = self.events
        let process: SandboxedProcess
        timings.package = phase()
        change(domain) { stubs in
            let record = StubRecord(domain: domain, url: url)
            if successor { stubs.successor = record } else { stubs.current = record }
        }
        do {
            process = try await sandbox.spawn(
                request, metadata: StubMetadata.of(url: url, domain: domain)
            ) { status in
                events.yield(.exited(url: url, domain: domain, status: status))
            }
        } catch {
            throw DeploymentFailure(.spawn, "cannot start \(domain)'s stub: \(error.message)")
        }
        timings.spawn = phase()
        let started = try await attach(process, domain: domain, url: url)
        attached(started)
        change(domain) { _ = $0.update(url) { $0.attach(started) } }
        await registry.setPID(process.pid, of: url, confinement: process.confinement.map(\.json))
        logger.info(
            "stub \(url) started (pid \(process.pid)) from \(descriptor.origin); \(process.confinement.map { "confined: \($0.summary)" } ?? "seccomp and rlimits only")",
            metadata: StubMetadata.of(url: url, domain: domain, pid: process.pid))
        timings.attach = phase()
        let deployMessage = deployMessage(url: url, descriptor: descriptor, identity: identity)
        let idleTimeout = descriptor.idleSeconds.map { TimeAmount.nanoseconds(Int64($0 * 1e9)) }
        let loop = bus.eventLoop
        await onLoop { bus in
            if successor {
                bus.successorAttached(started.port)
            } else {
                bus.stubAttached(started.port, domain: domain, url: url, idleTimeout: idleTimeout)
            }
            bus.send(deployMessage, to: started.port)
            bus.flush()
        }
        let handshakeTimeout = configuration.handshakeTimeout
        let timeout = loop.scheduleTask(in: handshakeTimeout) {
            started.handshake.fail(
                DeploymentFailure(
                    .timedOut,
                    "the stub did not answer the deploy message within \(handshakeTimeout.nanoseconds / 1_000_000) ms"
                ))
        }
        defer { timeout.cancel() }
        let reply: Message
        do {
            reply = try await started.handshake.value.get()
        } catch let error as DeploymentFailure {
            throw error
        } catch {
            throw DeploymentFailure(.handshake, "\(error)")
        }
        guard reply.code == 200 else {
            throw DeploymentFailure(
                .handshake,
                "the stub refused the deploy message with code \(reply.code.map(String.init) ?? "none")"
                    + (reply.desc.map { ": \($0)" } ?? ""))
        }
        change(domain) { _ = $0.update(url) { $0.answered() } }
        timings.handshake = phase()
        await registry.setDeployPhases(timings, answeredAt: lap, of: url)
        return started
    }

    private func deployMessage(url: String, descriptor: Descriptor, identity: JSONValue?) -> Message {
        var config = descriptor.configuration.objectValue ?? []
        if descriptor.remoteURL == nil { config = Self.withCertificateText(config, descriptor: descriptor, logger: logger) }
        config.removeAll { $0.0 == "runtimeURL" }
        config.append(("runtimeURL", .string(bus.addresses.runtimeURL)))
        var body: [(String, JSONValue)] = [("url", .string(url)), ("config", .object(config))]
        body.append(("identity", identity ?? .object([])))
        return Message.make(
            id: .int(1), type: .create, from: RuntimeAddresses.sandboxExternal, to: RuntimeAddresses.sandboxInternal,
            body: .object(body))
    }

    /// A local descriptor's `tls.caFile` names a file the confined stub cannot open: the daemon reads it
    /// and hands its text as `tls.caPem` (at most 1 MiB). Never for a descriptor from the network, which
    /// must not make the daemon read files of this host.
    static func withCertificateText(_ config: [(String, JSONValue)], descriptor: Descriptor, logger: Logger)
        -> [(String, JSONValue)]
    {
        guard let index = config.firstIndex(where: { $0.0 == "tls" }), var tls = config[index].1.objectValue,
            !tls.contains(where: { $0.0 == "caPem" }),
            let path = tls.first(where: { $0.0 == "caFile" })?.1.stringValue
        else { return config }
        guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20,
            let text = String(data: data, encoding: .utf8)
        else {
            logger.warning(
                "\(descriptor.domain)'s tls.caFile \(path) cannot be read by the daemon; the stub will not get it",
                metadata: StubMetadata.of(domain: descriptor.domain))
            return config
        }
        tls.append(("caPem", .string(text)))
        var result = config
        result[index].1 = .object(tls)
        return result
    }

    /// How long after its deploy answer a stub keeps the daemon's priority (its first requests, its start-up).
    static let priorityDelay: DispatchTimeInterval = .seconds(1)
    /// Where stubs are lowered: re-weighting an autogroup takes the kernel's global locks, which the event
    /// loop that routes every message need not wait for.
    private static let priorityQueue = DispatchQueue(label: "rethink.stub-priority", qos: .utility)

    /// Lowers `process`'s priority after `delay`, again every 150 ms while the kernel says "later" (an
    /// unprivileged daemon may re-weight an autogroup once per 100 ms across the whole system).
    private static func lowerPriority(of process: SandboxedProcess, after delay: DispatchTimeInterval, tries: Int) {
        priorityQueue.asyncAfter(deadline: .now() + delay) {
            if !process.lowerPriority(), tries > 1 {
                lowerPriority(of: process, after: .milliseconds(150), tries: tries - 1)
            }
        }
    }

    /// Wraps the child's pipes in NIO channels on the bus's loop.
    private func attach(_ process: SandboxedProcess, domain: DomainKey, url: String) async throws
        -> StubInstance
    {
        let loop = bus.eventLoop
        let handshake = OnceBox<Message>(eventLoop: loop)
        let exited = OnceBox<ExitStatus>(eventLoop: loop)
        let events = self.events
        let handler = MiniBusHandler(
            bus: bus, domain: domain, url: url, maxLineBytes: configuration.maxMessageBytes, logger: logger
        ) {
            [bus] reply in
            // `deployed` is applied here, in line order, so that it precedes the statuses the stub reports next.
            guard handshake.completeOnLoop(reply), reply.code == 200 else { return }
            // Lowered a moment later, not now: the requests that waited for this stub go to it next, and a
            // stub already at nice 10 would answer them later.
            Self.lowerPriority(of: process, after: Self.priorityDelay, tries: 20)
            bus.setStatus(.deployed, of: domain, stub: url, desc: nil)
            events.yield(.reported(url: url, domain: domain, status: .deployed, desc: nil))
        }
        let logHandler = StubLogHandler(
            logger: logger,
            metadata: StubMetadata.of(url: url, domain: domain, pid: process.pid).merging(["rethink_source": "stub"]) {
                $1
            }, rate: configuration.stubLogRate)
        // Reads start at 4 KiB and grow with the traffic: the channel keeps its receive buffer for the next read,
        // and a 64 KiB start cost every idle stub 58 KiB of the daemon's memory (89 → 31 KiB per stub, with the
        // same pipelined rate: docs/BENCHMARK.md).
        let dataChannel = try await NIOPipeBootstrap(group: loop)
            .channelOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 4096, maximum: 262_144)
            )
            .channelOption(.maxMessagesPerRead, value: 8)
            .channelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .takingOwnershipOfDescriptors(input: process.stdoutFD, output: process.stdinFD).get()
        let logChannel = try await NIOPipeBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(logHandler) }
            }
            .takingOwnershipOfDescriptor(input: process.stderrFD).get()
        return StubInstance(
            domain: domain, url: url, process: process, port: handler.port, dataChannel: dataChannel,
            logChannel: logChannel, handshake: handshake, exited: exited)
    }

    // MARK: Status and exits

    /// Applies a status the runtime sets: to the Registry (record, broadcast) and to the bus (routing).
    func setStatus(
        _ status: StubStatus, domain: DomainKey, url: String, desc: String?, reason: StatusReason? = nil
    ) async {
        await registry.apply(status, to: url, desc: desc, reason: reason)
        await onLoop { $0.setStatus(status, of: domain, stub: url, desc: desc) }
    }

    /// A stub process ended: its record says what that means (expected, a failed handshake, a crash).
    private func processExited(url: String, domain: DomainKey, status: ExitStatus) async {
        let (outcome, role) = change(domain) { stubs -> (StubRecord.Exit?, Role) in
            let role: Role = stubs.current?.url == url ? .current : stubs.successor?.url == url ? .successor : .leaving
            let outcome = stubs.update(url) { $0.exited(status) }
            if case .crashed = outcome, role == .current { stubs.current = nil }
            return (outcome, role)
        }
        guard case .crashed(let instance) = outcome else { return }
        let reason = status.stubReason
        switch role {
        case .leaving:
            // Replaced by a newer version and draining: what it still owed gets 502 now.
            await onLoop { $0.retire(instance.port, url: url, code: 502, desc: "stub \(url) \(reason) with the request outstanding") }
            return
        case .successor:
            // The rollover waiting for it to be live fails now rather than at its timeout.
            await registry.apply(.disconnected, to: url, desc: "the stub \(reason)", reason: .crashed)
            return
        case .current:
            break
        }
        logger.error(
            "stub \(url) \(reason)",
            metadata: StubMetadata.of(
                url: url, domain: domain, pid: instance.process.pid, status: "disconnected",
                messageID: JournalMessageID.stubCrashed))
        await onLoop { $0.stubProcessGone(domain: domain, url: url, reason: reason) }
        closeChannels(of: instance)
        await registry.apply(.disconnected, to: url, desc: "the stub \(reason)", reason: .crashed)
        switch await registry.recordCrash(of: url) {
        case .retry(let delay):
            logger.info(
                "redeploying \(domain)'s stub in \(Int(delay * 1000)) ms", metadata: StubMetadata.of(domain: domain))
            Task {
                try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                await self.redeployAfterCrash(domain, crashed: url)
            }
        case .giveUp:
            await setStatus(
                .dead, domain: domain, url: url, desc: "gave up after repeated crashes; last: the stub \(reason)",
                reason: .crashed)
        }
    }

    private enum Role { case current, successor, leaving }

    private func redeployAfterCrash(_ domain: DomainKey, crashed url: String) async {
        guard !shuttingDown, domains[domain]?.current == nil, domains[domain]?.deployment == nil,
            await registry.record(for: domain)?.url == url
        else { return }
        _ = await deploy(domain)
    }

    // MARK: Stopping

    /// Stops a stub on purpose: what it still owes gets `code`; it gets the undeploy message (unless
    /// `sendDelete` is false) and its stdin closed, then SIGTERM after the grace period, then SIGKILL.
    /// With `keepRoute`, the domain's route is left alone (a successor or a retiring stub): only this stub's
    /// own outstanding requests get `code`.
    func stop(_ instance: StubInstance, code: Int, desc: String, sendDelete: Bool = true, keepRoute: Bool = false)
        async
    {
        _ = change(instance.domain) { $0.leave(instance.url) }
        let undeploy = Message.make(
            type: .delete, from: RuntimeAddresses.sandboxExternal, to: RuntimeAddresses.sandboxInternal,
            body: .object([("url", .string(instance.url))]))
        let loop = bus.eventLoop
        await onLoop { bus in
            if sendDelete {
                bus.send(undeploy, to: instance.port)
                bus.flush()
            }
            if keepRoute {
                bus.retire(instance.port, url: instance.url, code: code, desc: desc)
            } else {
                bus.removeRoute(for: instance.domain, code: code, desc: desc)
            }
            instance.dataChannel.close(mode: .output, promise: nil)
        }
        let process = instance.process
        let grace = sendDelete ? configuration.stopGrace : .zero
        let term = loop.scheduleTask(in: grace) { process.signal(SIGTERM) }
        let kill = loop.scheduleTask(in: grace + configuration.killGrace) { process.signal(SIGKILL) }
        let status = try? await instance.exited.value.get()
        term.cancel()
        kill.cancel()
        closeChannels(of: instance)
        change(instance.domain) { $0.remove(instance.url) }
        logger.info(
            "stub \(instance.url) stopped (\(status?.stubReason ?? "exit unknown"))",
            metadata: StubMetadata.of(url: instance.url, domain: instance.domain))
    }

    func closeChannels(of instance: StubInstance) {
        instance.dataChannel.close(promise: nil)
        instance.logChannel.close(promise: nil)
    }

    func onLoop(_ body: @escaping @Sendable (MessageBus) -> Void) async {
        let bus = self.bus
        try? await bus.eventLoop.submit { body(bus) }.get()
    }
}

extension Error {
    var message: String {
        (self as? DeploymentFailure)?.message ?? (self as? SandboxError)?.message ?? "\(self)"
    }
}
