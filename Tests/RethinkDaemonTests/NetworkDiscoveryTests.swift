import Foundation
import RethinkClient
import RethinkDaemon
import RethinkMessages
import RethinkStubPackage
import RethinkTestKit
import Testing

/// Stubs fetched over the network (SPEC section 7) from a real nginx over real TLS: `.well-known`
/// discovery, integrity and signatures, archives, limits, timeouts, caching. Each refusal has its own
/// reason, and every request sent meanwhile gets its answer.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct NetworkDiscoveryTests {
    static let hosts = [
        "remote.example", "archive.example", "slow.example", "catalogue.example", "xmpp.example", "loop.example",
        "chat.example",
    ]

    /// A daemon with an empty local catalogue that reaches the test hosts at the nginx.
    static func runtime(
        _ server: WellKnownServer, trustedKeys: [String] = [],
        configure: (inout DaemonConfiguration) -> Void = { _ in }
    ) async throws -> TestRuntime {
        try await TestRuntime(descriptors: [:]) { configuration in
            var resolve: [String: String] = [:]
            for host in hosts { resolve[host] = "127.0.0.1:\(server.port)" }
            configuration.discovery.resolve = resolve
            configuration.discovery.caBundle = server.caBundle
            configuration.discovery.trustedKeys = trustedKeys
            configuration.discovery.fetchTimeoutSeconds = 5
            configure(&configuration)
        }
    }

    static let echoSource = Array(try! Data(contentsOf: URL(fileURLWithPath: Paths.echoStub)))

    static func echo(version: String = "1") -> StubPublication {
        StubPublication(objectName: "echo", version: version, language: "python")
    }

    /// Sends `count` requests at once to `address` and returns their final responses.
    static func requests(_ count: Int, to address: String, via client: RuntimeClient) async throws -> [Message] {
        try await withThrowingTaskGroup(of: Message.self) { group in
            for index in 0..<count {
                group.addTask { try await client.request(.read, to: address, body: ["value": .int(Int64(index))]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test func firstContactFetchesTheDomainsSignedStubAndTheAnswerComesBack() async throws {
        let server = try WellKnownServer(hosts: Self.hosts)
        defer { server.stop() }
        let (privateKey, publicKey) = PackageSignature.makeKeyPair()
        try server.publish(
            Self.echo(version: "1.0.0"), host: "remote.example", package: Self.echoSource, fileName: "echo_stub.py",
            privateKey: privateKey)
        try await using(Self.runtime(server, trustedKeys: [publicKey])) { runtime in
            let client = try await runtime.client()

            let response = try await client.request(.create, to: "hyperty://remote.example/bob", body: ["value": "hi"])

            #expect(response.code == 200)
            #expect(response.bodyValue == "hi")
            let stub = try #require(try await runtime.stub("remote.example", via: client))
            #expect(stub["status"]?.stringValue == "live")
            #expect(stub["version"]?.stringValue == "1.0.0")
            let sha256 = PackageSignature.sha256Hex(Self.echoSource)
            #expect(FileManager.default.fileExists(atPath: runtime.directory.path + "/state/packages/\(sha256)/main.py"))
        }
    }

    @Test func aReloadThatAddsATrustedKeyRefusesUnsignedPackagesFromThenOn() async throws {
        let server = try WellKnownServer(hosts: Self.hosts)
        defer { server.stop() }
        try server.publish(
            Self.echo(version: "1.0.0"), host: "remote.example", package: Self.echoSource, fileName: "echo_stub.py",
            privateKey: nil)
        try server.publish(
            Self.echo(version: "1.0.0"), host: "archive.example", package: Self.echoSource, fileName: "echo_stub.py",
            privateKey: nil)
        try await using(Self.runtime(server)) { runtime in
            let client = try await runtime.client()
            #expect(try await client.request(.create, to: "hyperty://remote.example/bob", body: ["value": "1"]).code == 200)

            var reloaded = runtime.daemon.configuration
            reloaded.discovery.trustedKeys = [PackageSignature.makeKeyPair().publicKey]
            _ = try await runtime.daemon.reload(reloaded)

            let refused = try await client.request(.create, to: "hyperty://archive.example/bob", body: ["value": "2"])
            #expect(refused.code == 502)
            #expect(refused.desc?.contains("only runs signed packages") == true, "\(refused.desc ?? "")")
            let running = try await client.request(.create, to: "hyperty://remote.example/bob", body: ["value": "3"])
            #expect(running.code == 200, "the stub deployed before the reload keeps running")
        }
    }

    @Test func archiveCarryingItsOwnKitIsUnpackedAndRuns() async throws {
        let server = try WellKnownServer(hosts: Self.hosts)
        defer { server.stop() }
        let source = server.directory.appendingPathComponent("src")
        try FileManager.default.createDirectory(
            at: source.appendingPathComponent("lib"), withIntermediateDirectories: true)
        try Data(Self.echoSource).write(to: source.appendingPathComponent("main.py"))
        try Data(contentsOf: URL(fileURLWithPath: Paths.stubKit + "/rethink_stub.py"))
            .write(to: source.appendingPathComponent("rethink_stub.py"))
        try Data("data\n".utf8).write(to: source.appendingPathComponent("lib/extra.txt"))
        let package = try StubPublication.archive(directory: source.path)
        var publication = Self.echo()
        publication.entryPoint = "main.py"
        try server.publish(publication, host: "archive.example", package: package, fileName: "echo.tar.gz")
        try await using(Self.runtime(server) { $0.pythonPath = ["/nonexistent"] }) { runtime in
            let client = try await runtime.client()

            let response = try await client.request(.read, to: "hyperty://archive.example/x", body: ["value": 7])

            #expect(response.code == 200, "the archive's own rethink_stub.py is found: \(response.desc ?? "")")
            #expect(response.bodyValue == 7)
            let unpacked = runtime.directory.path + "/state/packages/\(PackageSignature.sha256Hex(package))"
            #expect(FileManager.default.fileExists(atPath: unpacked + "/lib/extra.txt"))
        }
    }

    enum Refusal: String, CaseIterable, Sendable {
        case tamperedPackage, wrongHash, missingSignature, untrustedSignature, oversizePackage, traversalArchive,
            slowServer
    }

    @Test(arguments: Refusal.allCases)
    func refusedPackageFailsTheDeploymentWithItsReasonAndAnswersEveryRequest(_ refusal: Refusal) async throws {
        let server = try WellKnownServer(hosts: Self.hosts)
        defer { server.stop() }
        let (privateKey, publicKey) = PackageSignature.makeKeyPair()
        let (otherKey, _) = PackageSignature.makeKeyPair()
        var host = "remote.example"
        var package = Self.echoSource
        var fileName = "echo_stub.py"
        var signingKey: String? = privateKey
        let expected: String
        switch refusal {
        case .tamperedPackage: expected = "sha256 of https://remote.example"
        case .wrongHash: expected = "the descriptor says 00000000"
        case .missingSignature:
            signingKey = nil
            expected = "not signed"
        case .untrustedSignature:
            signingKey = otherKey
            expected = "does not verify against any of the 1 trusted key"
        case .oversizePackage:
            package = Array(repeating: UInt8(ascii: "#"), count: 300_000)
            expected = "more than the limit of 200000"
        case .traversalArchive:
            package = Gzip.compress(
                TarArchive(entries: [
                    .init(path: "main.py", bytes: Self.echoSource), .init(path: "../../evil", bytes: [1]),
                ])
                .bytes())
            fileName = "evil.tar.gz"
            expected = "leaves the stub's directory"
        case .slowServer:
            host = "slow.example"
            package = Self.echoSource + Array(repeating: UInt8(ascii: "#"), count: 20_000)
            expected = "did not arrive within 1500 ms"
        }
        let packagePath = try server.publish(
            Self.echo(), host: host, package: package, fileName: fileName, privateKey: signingKey)
        switch refusal {
        case .tamperedPackage:
            try Data(Self.echoSource + Array("\n# tampered\n".utf8)).write(to: URL(fileURLWithPath: packagePath))
        case .wrongHash:
            try server.editDescriptor(host) { members in
                members.removeAll { $0.0 == "sha256" }
                members.append(("sha256", .string(String(repeating: "0", count: 64))))
            }
        default: break
        }
        try await using(Self.runtime(server, trustedKeys: [publicKey]) {
            $0.discovery.maxPackageBytes = 200_000
            $0.discovery.fetchTimeoutSeconds = 1.5
        }) { runtime in
            let watcher = try await runtime.client()
            _ = try await watcher.listen([runtime.runtimeURL + "/status"])
            let client = try await runtime.client()

            let responses = try await Self.requests(5, to: "hyperty://\(host)/bob", via: client)

            #expect(responses.count == 5)
            for response in responses {
                #expect(response.code == 502)
                #expect(response.desc?.contains(expected) == true, "\(response.desc ?? "no desc")")
            }
            let failed = await watcher.collect(1, seconds: 5) { $0.body?["value"]?.stringValue == "deployment-failed" }
            #expect(failed.first?.body?["desc"]?.stringValue?.contains(expected) == true)
            let stub = try await runtime.stub(host, via: client)
            #expect(stub?["status"]?.stringValue == "deployment-failed")
            #expect(stub?["desc"]?.stringValue?.contains(expected) == true)
            let logged = ContinuousClock.now + .seconds(2)
            while !runtime.logs.all.contains(where: { $0.level >= .error && $0.message.contains(expected) }),
                ContinuousClock.now < logged
            {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(runtime.logs.all.contains { $0.level >= .error && $0.message.contains(expected) })
        }
    }

    @Test func unreachableDomainGetsAFast404WithTheReason() async throws {
        let server = try WellKnownServer(hosts: Self.hosts)
        defer { server.stop() }
        let closedPort = try WellKnownServer.freePort()
        try await using(Self.runtime(server) {
            $0.discovery.resolve["unreachable.example"] = "127.0.0.1:\(closedPort)"
        }) { runtime in
            let client = try await runtime.client()

            let started = ContinuousClock.now
            let responses = try await Self.requests(3, to: "hyperty://unreachable.example/bob", via: client)

            #expect(ContinuousClock.now - started < .seconds(3))
            #expect(responses.count == 3)
            for response in responses {
                #expect(response.code == 404)
                #expect(
                    response.desc?.contains("https://unreachable.example/.well-known/protocolstub/default is unreachable")
                        == true, "\(response.desc ?? "")")
            }
        }
    }

    @Test func missingDescriptorIsRememberedForTheNegativeCacheTime() async throws {
        let server = try WellKnownServer(hosts: Self.hosts)
        defer { server.stop() }
        try await using(Self.runtime(server) { $0.discovery.negativeCacheSeconds = 4 }) { runtime in
            let client = try await runtime.client()
            let first = try await client.request(.read, to: "hyperty://remote.example/bob")
            #expect(first.code == 404)
            #expect(first.desc?.contains("default answered 404") == true, "\(first.desc ?? "")")
            try server.publish(Self.echo(), host: "remote.example", package: Self.echoSource, fileName: "echo_stub.py")

            try await Task.sleep(for: .milliseconds(2200))
            let remembered = try await client.request(.read, to: "hyperty://remote.example/bob")
            try await Task.sleep(for: .milliseconds(2600))
            let fresh = try await client.request(.read, to: "hyperty://remote.example/bob")

            #expect(remembered.code == 404, "still within the negative cache time")
            #expect(fresh.code == 200, "asked again once it expired: \(fresh.desc ?? "")")
        }
    }

    @Test func domainWithoutItsOwnStubIsServedFromTheCatalogueDomain() async throws {
        let server = try WellKnownServer(hosts: Self.hosts)
        defer { server.stop() }
        var publication = Self.echo()
        publication.name = "xmpp.example"
        try server.publish(publication, host: "catalogue.example", package: Self.echoSource, fileName: "echo_stub.py")
        try await using(Self.runtime(server) { $0.discovery.catalogueDomain = "catalogue.example" }) { runtime in
            let client = try await runtime.client()

            let response = try await client.request(.read, to: "hyperty://xmpp.example/alice", body: ["value": 1])

            #expect(response.code == 200, "\(response.desc ?? "")")
            #expect(
                runtime.logs.all.contains {
                    $0.message.contains("https://catalogue.example/.well-known/protocolstub/xmpp.example")
                })
        }
    }

    @Test func plainHTTPIsRefusedUnlessTheOperatorAllowsTheHost() async throws {
        let server = try WellKnownServer(hosts: Self.hosts)
        defer { server.stop() }
        try server.publish(Self.echo(), host: "remote.example", package: Self.echoSource, fileName: "echo_stub.py")
        try server.editDescriptor("remote.example") { members in
            let sha = PackageSignature.sha256Hex(Self.echoSource)
            members.removeAll { $0.0 == "sourcePackageURL" }
            members.append(
                (
                    "sourcePackageURL",
                    .string("http://remote.example/.well-known/protocolstub/packages/\(sha)/echo_stub.py")
                ))
        }
        try await using(Self.runtime(server)) { runtime in
            let client = try await runtime.client()

            let response = try await client.request(.read, to: "hyperty://remote.example/bob")

            #expect(response.code == 502)
            #expect(response.desc?.contains("refusing plain http") == true, "\(response.desc ?? "")")
        }
    }

    @Test func redeployOfTheSameVersionNeedsNoNetwork() async throws {
        let server = try WellKnownServer(hosts: Self.hosts)
        try server.publish(Self.echo(), host: "remote.example", package: Self.echoSource, fileName: "echo_stub.py")
        try await using(Self.runtime(server)) { runtime in
            let client = try await runtime.client()
            #expect(try await client.request(.read, to: "hyperty://remote.example/bob").code == 200)
            let undeploy = try await client.request(
                .delete, to: runtime.runtimeURL + "/ua", body: ["value": ["domain": "remote.example"]])
            #expect(undeploy.code == 200)
            server.stop()

            let response = try await client.request(.read, to: "hyperty://remote.example/bob", body: ["value": 2])

            #expect(response.code == 200, "served from the cache: \(response.desc ?? "")")
            #expect(response.bodyValue == 2)
        }
    }

    @Test func treeWrittenByRethinkctlStubPackIsServedAsItIsAndDeploys() async throws {
        let server = try WellKnownServer(hosts: Self.hosts)
        defer { server.stop() }
        let keys = server.directory.path + "/publisher"
        let rethinkctl = Paths.product("rethinkctl")
        #expect(try ChildProcess(rethinkctl, ["stub", "keygen", keys]).exitCode == 0)
        let pack = try ChildProcess(
            rethinkctl,
            [
                "stub", "pack", Paths.echoStub, "--language", "python", "--version", "3", "--object-name", "echo",
                "--key", keys + ".key", "--out", server.root("remote.example"),
            ])
        #expect(pack.exitCode == 0)
        let verify = try ChildProcess(
            rethinkctl,
            [
                "stub", "verify", server.descriptorPath("remote.example"), "--trusted-key", keys + ".pub",
            ])
        #expect(verify.exitCode == 0)
        let publicKey = try String(contentsOfFile: keys + ".pub", encoding: .utf8)
        try await using(Self.runtime(
            server, trustedKeys: [publicKey.trimmingCharacters(in: .whitespacesAndNewlines)])) { runtime in
            let client = try await runtime.client()

            let response = try await client.request(.read, to: "hyperty://remote.example/bob", body: ["value": "packed"])

            #expect(response.code == 200, "\(response.desc ?? "")")
            #expect(response.bodyValue == "packed")
            #expect(try await runtime.stub("remote.example", via: client)?["version"]?.stringValue == "3")
        }
    }

    @Test func serverWhoseCertificateIsNotTrustedIsNotBelieved() async throws {
        let server = try WellKnownServer(hosts: Self.hosts)
        defer { server.stop() }
        try server.publish(Self.echo(), host: "remote.example", package: Self.echoSource, fileName: "echo_stub.py")
        try await using(Self.runtime(server) { $0.discovery.caBundle = nil }) { runtime in
            let client = try await runtime.client()

            let response = try await client.request(.read, to: "hyperty://remote.example/bob")

            #expect(response.code == 404)
            #expect(
                response.desc?.contains("TLS with https://remote.example/.well-known/protocolstub/default failed") == true,
                "\(response.desc ?? "")")
        }
    }

    @Test func oversizeDescriptorIsRefusedWithTheLimitInTheAnswer() async throws {
        let server = try WellKnownServer(hosts: Self.hosts)
        defer { server.stop() }
        try server.publish(Self.echo(), host: "remote.example", package: Self.echoSource, fileName: "echo_stub.py")
        try await using(Self.runtime(server) { $0.discovery.maxDescriptorBytes = 100 }) { runtime in
            let client = try await runtime.client()

            let responses = try await Self.requests(3, to: "hyperty://remote.example/bob", via: client)

            #expect(responses.count == 3)
            for response in responses {
                #expect(response.code == 502)
                #expect(
                    response.desc?.contains("descriptor for remote.example refused") == true
                        && response.desc?.contains("more than the limit of 100") == true, "\(response.desc ?? "")")
            }
        }
    }

    @Test func endlessRedirectsStopAtTheCap() async throws {
        let server = try WellKnownServer(hosts: Self.hosts)
        defer { server.stop() }
        try await using(Self.runtime(server)) { runtime in
            let client = try await runtime.client()

            let response = try await client.request(.read, to: "hyperty://loop.example/bob")

            #expect(response.code == 404)
            #expect(response.desc?.contains("more than 3 redirects") == true, "\(response.desc ?? "")")
        }
    }

    @Test func legacyNetworkKeyIsLookedUpAtItsHostUnderTheKeysName() async throws {
        let server = try WellKnownServer(hosts: Self.hosts)
        defer { server.stop() }
        var publication = Self.echo()
        publication.name = "xmpp.chat.example"
        publication.interworking = true
        try server.publish(publication, host: "chat.example", package: Self.echoSource, fileName: "echo_stub.py")
        try await using(Self.runtime(server)) { runtime in
            let client = try await runtime.client()

            let response = try await client.request(.read, to: "xmpp://chat.example/alice@chat.example", body: ["value": 1])

            #expect(response.code == 200, "\(response.desc ?? "")")
            let stub = try #require(try await runtime.stub("xmpp.chat.example", via: client))
            #expect(stub["interworking"]?.boolValue == true)
        }
    }
}
