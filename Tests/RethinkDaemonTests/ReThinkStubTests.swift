import Foundation
import RethinkClient
import RethinkMessages
import RethinkStubPackage
import RethinkTestKit
import Testing

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// reTHINK's own protostub shapes run unchanged (issue 12): message-node stubs the project wrote in each of
/// reTHINK's three shapes, published in each of its descriptor forms, deployed on the fly by the real
/// `rethink-runtimed` binary under the javascript sandbox (JavaScript stub host, node, node-ws), against the test
/// Vert.x message node. Two daemons are two runtimes on the same node: alice on one, bob on the other.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ReThinkStubTests {
    /// reTHINK's three shapes of stub code (the fixtures in `Tests/Fixtures/rethink-js/`).
    enum Shape: String, CaseIterable, CustomStringConvertible {
        /// A SystemJS `System.register` bundle whose default export is a 2019 class with `_start`.
        case systemRegister = "vertx-2019.ps.js"
        /// Babel's CommonJS, `exports.default = activate`, `require('ws')`, lazy connect, status `connected`.
        case commonJS = "vertx-classic.js"
        /// An ES module: `import WebSocket from 'ws'`, `export default function activate`.
        case esModule = "vertx-module.js"

        var description: String { rawValue }
        var source: [UInt8] {
            Array(try! Data(contentsOf: Paths.root.appendingPathComponent("Tests/Fixtures/rethink-js/\(rawValue)")))
        }
        var key: String {
            switch self {
            case .systemRegister: "sysreg"
            case .commonJS: "cjs"
            case .esModule: "esm"
            }
        }
    }

    /// How a domain publishes it.
    enum Form: String, CaseIterable, CustomStringConvertible {
        /// The 2019 `.well-known` layout over HTTPS: `default.ps.json` (no `sourcePackageURL`, no `sha256`,
        /// `constraints.browser`), its code beside it as `default.ps.js`.
        case wellKnown2019
        /// The classic catalogue's descriptor at `.well-known/protocolstub/default`, the code inline in base64,
        /// `language: "Javascript ECMA5"`.
        case classicInline
        /// An operator's local catalogue: `<key>.ps.json` with `<key>.ps.js` beside it, `"JAVASCRIPT_ECMA6"`.
        case localCatalogue

        var description: String { rawValue }
        var key: String {
            switch self {
            case .wellKnown2019: "wk"
            case .classicInline: "inline"
            case .localCatalogue: "local"
            }
        }
    }

    static let allCases: [(Shape, Form)] = Shape.allCases.flatMap { shape in Form.allCases.map { (shape, $0) } }

    @Test(.serialized, arguments: allCases)
    func aReThinkStubDeploysGoesLiveCarriesTrafficBothWaysAndReopensItsSessionAfterTheNodeRestarts(
        shape: Shape, form: Form
    ) async throws {
        let domain = "\(shape.key)-\(form.key).example"
        let rig = try StubRig(domain: domain)
        defer { rig.cleanUp() }
        try rig.publish(shape, form: form)
        let (a, b) = (try rig.daemon("a"), try rig.daemon("b"))
        let alice = try await a.client()
        let bob = try await b.client()
        let aliceAddress = "hyperty://\(domain)/alice"
        let bobAddress = "hyperty://\(domain)/bob"

        // Listening on an address of the domain deploys its stub on the fly and subscribes it at the node.
        #expect(try await alice.listen([aliceAddress]).code == 200)
        #expect(try await bob.listen([bobAddress]).code == 200)
        let stubA = try await a.waitFor(domain, status: "live", via: alice)
        let stubB = try await b.waitFor(domain, status: "live", via: bob)
        let stubURL = "hyperty-runtime://\(domain)/protostub/1"
        #expect(stubA["url"]?.stringValue == stubURL)
        #expect(stubA["confinement"]?["seccomp"]?.stringValue == "javascript", "\(stubA.jsonString)")
        #expect((stubA["confinement"]?["landlock"]?.intValue ?? 0) > 0, "\(stubA.jsonString)")
        #expect(stubB["status"]?.stringValue == "live")
        let sessionA = try await rig.node.waitFor("open") { $0["runtimeURL"]?.stringValue == alice.greeting.runtimeURL }
        let sessionB = try await rig.node.waitFor("open") { $0["runtimeURL"]?.stringValue == bob.greeting.runtimeURL }
        try await rig.node.waitFor("subscribe") { $0["addresses"]?.arrayValue?.first?.stringValue == aliceAddress }
        try await rig.node.waitFor("subscribe") { $0["addresses"]?.arrayValue?.first?.stringValue == bobAddress }

        try await Self.exchange(alice, aliceAddress, bob, bobAddress, stubURL: stubURL, round: "first")

        // The node restarts (keeping its sessions, as a Vert.x cluster does): each stub re-opens its session.
        let seen = rig.node.events().count
        try rig.node.restart(keepingSessions: true)
        // bob speaks first: a classic stub reconnects only for its next message (alice's may be lost meanwhile).
        try await bob.send(
            Message.make(type: .create, from: bobAddress, to: aliceAddress, body: ["value": "wake up"]))
        let reopenedB = try await rig.node.waitFor("re-open", after: seen) {
            $0["session"]?.stringValue == sessionB["session"]?.stringValue
        }
        #expect(reopenedB["session"] != nil)
        try await Self.exchange(alice, aliceAddress, bob, bobAddress, stubURL: stubURL, round: "after the restart")
        try await rig.node.waitFor("re-open", after: seen) {
            $0["session"]?.stringValue == sessionA["session"]?.stringValue
        }
        #expect(
            !rig.node.events().dropFirst(seen).contains { $0["event"]?.stringValue == "open" },
            "both runtimes kept their sessions (re-open with the token), none opened a new one")
        _ = try await a.waitFor(domain, status: "live", via: alice)
        _ = try await b.waitFor(domain, status: "live", via: bob)
        try await a.stop()
        try await b.stop()
        try await rig.node.waitFor("close") { $0["session"]?.stringValue == sessionA["session"]?.stringValue }
    }

    /// alice asks bob and gets his answer; bob asks alice and gets hers; bob's notification reaches alice.
    static func exchange(
        _ alice: RuntimeClient, _ aliceAddress: String, _ bob: RuntimeClient, _ bobAddress: String, stubURL: String,
        round: String
    ) async throws {
        let bobAnswers = Task { () -> Message? in
            guard let request = await bob.collect(1, seconds: 10, where: { $0.type == .read }).first else { return nil }
            try await bob.send(request.response(code: 200, value: ["echo": request.bodyValue ?? .null]))
            return request
        }
        let answer = try await alice.request(
            .read, to: bobAddress, from: aliceAddress, body: ["value": .string("alice asks (\(round))")],
            timeout: .seconds(10))
        let heard = try await bobAnswers.value
        #expect(answer.code == 200, "\(round): \(answer.desc ?? "")")
        #expect(answer.bodyValue?["echo"]?.stringValue == "alice asks (\(round))", "\(round)")
        #expect(heard?.from == aliceAddress, "\(round)")
        #expect(heard?.via.contains(stubURL) == true, "\(round): bob's runtime records its stub in body.via")

        let aliceAnswers = Task { () -> Message? in
            guard let request = await alice.collect(1, seconds: 10, where: { $0.type == .execute }).first else {
                return nil
            }
            try await alice.send(request.response(code: 200, value: "alice answers"))
            return request
        }
        let reply = try await bob.request(
            .execute, to: aliceAddress, from: bobAddress, body: ["value": "bob asks"], timeout: .seconds(10))
        _ = try await aliceAnswers.value
        #expect(reply.code == 200, "\(round): \(reply.desc ?? "")")
        #expect(reply.bodyValue?.stringValue == "alice answers", "\(round)")

        try await bob.send(
            Message.make(type: .update, from: bobAddress, to: aliceAddress, body: ["value": .string("news (\(round))")])
        )
        let news = await alice.collect(1, seconds: 10) { $0.type == .update }
        #expect(news.first?.bodyValue?.stringValue == "news (\(round))", "\(round): inbound delivery")
        #expect(news.first?.via.contains(stubURL) == true, "\(round)")
    }

    @Test func aSessionTheRestartedNodeNoLongerKnowsIsRefusedAndTheStubReportsFailedWithTheNodesReason() async throws {
        let domain = "forgetful.example"
        let rig = try StubRig(domain: domain)
        defer { rig.cleanUp() }
        try rig.publish(.systemRegister, form: .localCatalogue)
        let daemon = try rig.daemon("a")
        let alice = try await daemon.client()
        #expect(try await alice.listen(["hyperty://\(domain)/alice"]).code == 200)
        _ = try await daemon.waitFor(domain, status: "live", via: alice)
        let seen = rig.node.events().count
        try rig.node.restart(keepingSessions: false)
        try await rig.node.waitFor("re-open-refused", after: seen)
        let failed = try await daemon.waitFor(domain, status: "failed", via: alice)
        #expect(failed["desc"]?.stringValue == "Reconnection fail. Incorrect runtime token!")
        #expect(
            !rig.node.events().dropFirst(seen).contains { $0["event"]?.stringValue == "open" },
            "the stub asked for its old session back; it did not open a new one behind the runtime's back")
    }

    @Test func aStubThatNeedsReThinksRuntimeFactoryFailsItsDeploySayingSo() async throws {
        let domain = "factory.example"
        let rig = try StubRig(domain: domain)
        defer { rig.cleanUp() }
        let source = Array(
            try Data(contentsOf: Paths.root.appendingPathComponent("Tests/Fixtures/rethink-js/needs-factory.ps.js")))
        try rig.publishLocal(source: source, descriptor: ["language": "javascript", "objectName": "needs-factory"])
        let daemon = try rig.daemon("a")
        let client = try await daemon.client()
        let answer = try await client.request(.read, to: "hyperty://\(domain)/x", body: ["value": 1])
        #expect(answer.code == 502)
        #expect(
            answer.desc?.contains("not provided by this runtime: factory.createSyncher") == true, "\(answer.desc ?? "")"
        )
        let record = try await daemon.waitFor(domain, status: "deployment-failed", via: client)
        #expect(record["desc"]?.stringValue?.contains("factory.createSyncher") == true, "\(record.jsonString)")
    }

    @Test func anUnsignedReThinkDescriptorIsRefusedWithTheReasonWhenTheOperatorTrustsKeys() async throws {
        let domain = "unsigned.example"
        let rig = try StubRig(domain: domain)
        defer { rig.cleanUp() }
        try rig.publish(.systemRegister, form: .wellKnown2019)
        let daemon = try rig.daemon("a", trustedKeys: [PackageSignature.makeKeyPair().publicKey])
        let client = try await daemon.client()
        let answer = try await client.request(.read, to: "hyperty://\(domain)/x", body: ["value": 1])
        #expect(answer.code == 502)
        #expect(answer.desc?.contains("only runs signed packages") == true, "\(answer.desc ?? "")")
    }
}

/// One test's world: a message node for `domain`, the nginx that publishes its stub, a local catalogue, and the
/// daemons started on them.
final class StubRig: @unchecked Sendable {
    let domain: String
    let directory: URL
    let node: VertxTestNode
    let web: WellKnownServer
    var catalogue: URL { directory.appendingPathComponent("catalogue") }
    private var daemons: [RuntimedProcess] = []

    init(domain: String) throws {
        self.domain = domain
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rethink-rig-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("catalogue"), withIntermediateDirectories: true)
        chmod(directory.path, 0o755)
        chmod(directory.appendingPathComponent("catalogue").path, 0o755)
        node = try VertxTestNode(domain: domain)
        web = try WellKnownServer(hosts: [domain])
    }

    /// What every descriptor of the rig's stub says: the node to use, and the destination the sandbox grants.
    var configuration: JSONValue { ["url": .string(node.url), "maxBuffer": 1_000_000] }
    var constraints: JSONValue { ["browser": true, "connect": [.string("127.0.0.1:\(node.port)")]] }

    /// Publishes `shape`'s code as `form` says.
    func publish(_ shape: ReThinkStubTests.Shape, form: ReThinkStubTests.Form) throws {
        let wellKnown = URL(fileURLWithPath: web.root(domain)).appendingPathComponent(".well-known/protocolstub")
        switch form {
        case .wellKnown2019:
            try FileManager.default.createDirectory(at: wellKnown, withIntermediateDirectories: true)
            let descriptor: JSONValue = [
                "language": "javascript", "description": "Protostub to exchange messages with vertx", "signature": "",
                "configuration": configuration, "constraints": constraints, "interworking": false,
                "objectName": "default",
            ]
            try Data(descriptor.jsonBytes).write(to: wellKnown.appendingPathComponent("default.ps.json"))
            try Data(shape.source).write(to: wellKnown.appendingPathComponent("default.ps.js"))
        case .classicInline:
            try FileManager.default.createDirectory(at: wellKnown, withIntermediateDirectories: true)
            let descriptor: JSONValue = [
                "cguid": 69_432_943_276, "version": "1.0", "objectName": "VertxProtoStub",
                "description": "This is a protostub", "language": "Javascript ECMA5", "dataObjects": [],
                "configuration": configuration, "constraints": constraints, "messageSchemas": [],
                "sourcePackageURL": "/sourcePackage",
                "sourcePackage": [
                    "encoding": "base64", "sourceCodeClassname": "VertxProtoStub",
                    "sourceCode": .string(Data(shape.source).base64EncodedString()),
                ],
            ]
            try Data(descriptor.jsonBytes).write(to: wellKnown.appendingPathComponent("default"))
        case .localCatalogue:
            try publishLocal(
                source: shape.source,
                descriptor: [
                    "language": "JAVASCRIPT_ECMA6", "objectName": .string(domain), "signature": "",
                    "configuration": configuration, "constraints": constraints,
                ])
        }
    }

    /// `<domain>.ps.json` and its code as `<domain>.ps.js` in the local catalogue.
    func publishLocal(source: [UInt8], descriptor: JSONValue) throws {
        try Data(descriptor.jsonBytes).write(to: catalogue.appendingPathComponent("\(domain).ps.json"))
        try Data(source).write(to: catalogue.appendingPathComponent("\(domain).ps.js"))
    }

    func daemon(_ name: String, trustedKeys: [String] = []) throws -> RuntimedProcess {
        let daemon = try RuntimedProcess(
            directory: directory.appendingPathComponent(name), catalogue: catalogue.path,
            discovery: [
                "resolve": .object([(domain, .string("127.0.0.1:\(web.port)"))]), "caBundle": .string(web.caBundle),
                "trustedKeys": .array(trustedKeys.map { .string($0) }),
            ])
        daemons.append(daemon)
        return daemon
    }

    func cleanUp() {
        for daemon in daemons { daemon.kill() }
        node.cleanUp()
        web.stop()
        if ProcessInfo.processInfo.environment["RETHINK_KEEP_LOGS"] == nil {
            try? FileManager.default.removeItem(at: directory)
        } else {
            print("kept \(directory.path) and \(node.directory.path)")
        }
    }
}

/// The `rethink-runtimed` binary with a configuration file, on its own socket and state directory; its log
/// (debug level) in `<directory>/runtimed.log`. It finds the JavaScript stub host the way an installed daemon
/// does: the bundled default (`stubkit/js/` in the checkout).
final class RuntimedProcess: @unchecked Sendable {
    let directory: URL
    let process: ChildProcess
    var socket: String { directory.appendingPathComponent("rt.sock").path }

    init(directory: URL, catalogue: String, discovery: JSONValue) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        chmod(directory.path, 0o755)
        let configuration: JSONValue = [
            "socket": .string(directory.appendingPathComponent("rt.sock").path),
            "stateDirectory": .string(directory.appendingPathComponent("state").path),
            "catalogues": [.string(catalogue)], "logLevel": "debug", "responseTimeoutSeconds": 8,
            "discovery": discovery,
        ]
        let path = directory.appendingPathComponent("config.json").path
        try Data(configuration.jsonBytes).write(to: URL(fileURLWithPath: path))
        process = try ChildProcess(
            Paths.product("rethink-runtimed"), ["--config", path, "--log-target", "stderr"],
            stderrPath: directory.appendingPathComponent("runtimed.log").path)
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socket), Date() < deadline, process.isRunning {
            usleep(10_000)
        }
        guard FileManager.default.fileExists(atPath: socket) else {
            throw TestSetupError("rethink-runtimed did not serve \(socket) within 10 s: \(log)")
        }
    }

    var log: String {
        (try? String(contentsOfFile: directory.appendingPathComponent("runtimed.log").path, encoding: .utf8)) ?? ""
    }

    func client() async throws -> RuntimeClient {
        try await RuntimeClient.connect(socketPath: socket)
    }

    /// Waits until the registry shows `status` for `domain`.
    func waitFor(_ domain: String, status: String, via client: RuntimeClient, seconds: Double = 15) async throws
        -> JSONValue
    {
        let deadline = Date().addingTimeInterval(seconds)
        var last: JSONValue?
        while Date() < deadline {
            let listing = try await client.request(.read, to: client.greeting.runtimeURL + "/registry")
            last = listing.bodyValue?.arrayValue?.first { $0["domain"]?.stringValue == domain }
            if let last, last["status"]?.stringValue == status { return last }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("\(domain) never reached \(status); last seen: \(last?.jsonString ?? "nothing"); log:\n\(log)")
        throw TestSetupError("timeout")
    }

    /// SIGTERM: the daemon undeploys its stubs (each gets `delete`) and exits 0.
    func stop() async throws {
        Glibc.kill(process.pid, SIGTERM)
        #expect(process.exitCode == 0, "\(log)")
    }

    func kill() {
        if process.isRunning {
            Glibc.kill(process.pid, SIGKILL)
            process.wait()
        }
    }
}
