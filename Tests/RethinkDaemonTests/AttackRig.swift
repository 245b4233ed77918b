import Foundation
import RethinkClient
import RethinkMessages
import RethinkSandbox
import RethinkTestKit
import Synchronization
import Testing

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// One attack's answer from the probe: `outcome` is `refused`, `allowed` (a breach), `sent` or `error`.
struct ProbeResult: CustomStringConvertible {
    let code: Int
    let outcome: String
    let errno: String?
    let detail: String

    var description: String { "\(code) \(outcome) \(errno ?? "-"): \(detail)" }
}

/// One real `rethink-runtimed` (the built binary, as `user`), with a catalogue of two domains:
/// `hostile.example`, the probe as a local file (the Python one, or the descriptor `probe` gives) with the network
/// grants the test gives, and `victim.example`, the echo stub as an inline package (so the daemon copies it into its
/// package cache), with credentials in a 0600 file. Both are deployed before the test starts; a watcher listens on
/// `<runtimeURL>/status`.
///
/// Its directory is under /var/tmp, not /tmp: a stub's view hides the host's /tmp, so a state directory there
/// would be out of reach for being invisible, not by the confinement under test.
final class AttackRig: @unchecked Sendable {
    static let hostile = "hostile.example"
    static let victim = "victim.example"
    static let daemonSecretName = "RETHINK_ATTACK_DAEMON_SECRET"
    private static let rigs = Atomic<UInt32>(0)

    let user: DaemonUser
    let directory: String
    /// This daemon's own `sandbox.uids`, so that daemons of tests running side by side never share a stub uid.
    let uids: ClosedRange<UInt32>
    let daemon: ChildProcess
    let client: RuntimeClient
    let watcher: RuntimeClient
    var runtimeURL: String { client.greeting.runtimeURL }
    var state: String { directory + "/state" }
    var socket: String { directory + "/rt.sock" }
    var catalogue: String { directory + "/catalogue" }
    var credentials: String { directory + "/credentials" }
    var credentialsFile: String { "\(credentials)/\(Self.victim).json" }
    var log: String { (try? String(contentsOfFile: directory + "/daemon.log", encoding: .utf8)) ?? "" }

    init(
        _ user: DaemonUser, probe: JSONValue? = nil, confinement: String = "full", connect: [String] = [],
        datagram: [String] = []
    ) async throws {
        self.user = user
        let base = FileManager.default.isWritableFile(atPath: "/var/tmp") ? "/var/tmp" : NSTemporaryDirectory()
        directory = (base as NSString).appendingPathComponent("rethink-attack-\(UUID().uuidString.prefix(8))")
        let first =
            1_900_000_000 + (UInt32(getpid()) % 20_000) * 1024
            + (Self.rigs.wrappingAdd(1, ordering: .relaxed).oldValue % 64) * 16
        uids = first...(first + 15)
        let directory = directory
        for path in [directory, directory + "/catalogue", directory + "/credentials"] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        chmod(directory, 0o755)
        chmod(directory + "/credentials", 0o700)
        user.own(directory)
        user.own(directory + "/credentials")

        let hostile = JSONValue.object(
            ((probe ?? TestRuntime.python(Paths.hostileProbe)).objectValue ?? []) + [
                (
                    "constraints",
                    ["connect": .array(connect.map { .string($0) }), "datagram": .array(datagram.map { .string($0) })]
                )
            ])
        let echo = try String(contentsOfFile: Paths.echoStub, encoding: .utf8)
        let victim: JSONValue = [
            "objectName": "echo", "version": "1", "language": "python", "sourcePackageURL": "/sourcePackage",
            "sourcePackage": ["encoding": "UTF-8", "sourceCode": .string(echo), "sourceCodeClassname": "echo_stub"],
            "configuration": [:],
        ]
        try Data(hostile.jsonBytes).write(to: URL(fileURLWithPath: "\(directory)/catalogue/\(Self.hostile).json"))
        try Data(victim.jsonBytes).write(to: URL(fileURLWithPath: "\(directory)/catalogue/\(Self.victim).json"))
        let credentialsFile = "\(directory)/credentials/\(Self.victim).json"
        try Data(#"{"token": "victim-credential"}"#.utf8).write(to: URL(fileURLWithPath: credentialsFile))
        chmod(credentialsFile, 0o600)
        user.own(credentialsFile)
        let config: JSONValue = [
            "pythonPath": [.string(Paths.stubKit)], "logLevel": "debug",
            "catalogues": [.string(directory + "/catalogue")],
            "credentialsDirectories": [.string(directory + "/credentials")], "responseTimeoutSeconds": 30,
            "sandbox": ["confinement": .string(confinement), "uids": .string("\(uids.lowerBound)-\(uids.upperBound)")],
        ]
        try Data(config.jsonBytes).write(to: URL(fileURLWithPath: directory + "/config.json"))

        let notify = try NotifySocket(in: URL(fileURLWithPath: directory))
        chmod(notify.path, 0o666)
        let daemon = try ChildProcess(
            "/bin/sh",
            [
                "-c", #"exec "$@" 2>>"$0""#, directory + "/daemon.log", "/usr/bin/env", "NOTIFY_SOCKET=\(notify.path)",
                "\(Self.daemonSecretName)=do-not-leak",
            ] + user.launcher + [
                Paths.product("rethink-runtimed"), "--config", directory + "/config.json", "--socket",
                directory + "/rt.sock", "--state-dir", directory + "/state", "--log-target", "stderr",
            ])
        self.daemon = daemon
        do {
            // Waited for on a thread of its own: the blocking receive must not hold one of the few threads of
            // the cooperative pool that the other tests' daemons and clients run on.
            let ready = await withCheckedContinuation { continuation in
                Thread.detachNewThread {
                    var ready = false
                    while !ready, let text = notify.receive(seconds: 20) { ready = text.contains("READY=1") }
                    continuation.resume(returning: ready)
                }
            }
            guard ready else { throw TestSetupError("rethink-runtimed as \(user) never became ready") }
            client = try await RuntimeClient.connect(socketPath: directory + "/rt.sock")
            watcher = try await RuntimeClient.connect(socketPath: directory + "/rt.sock")
        } catch {
            kill(daemon.pid, SIGKILL)
            daemon.wait()
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        do {
            #expect(try await watcher.listen([client.greeting.runtimeURL + "/status"]).code == 200)
            for domain in [Self.victim, Self.hostile] {
                let answer = try await client.request(.create, to: "hyperty://\(domain)/deploy", body: ["value": "up"])
                guard answer.code == 200 else {
                    throw TestSetupError("\(domain) did not deploy (\(answer.text)); daemon log:\n\(log.suffix(3000))")
                }
            }
        } catch {
            stop()
            throw error
        }
    }

    /// Sends one attack to the probe and returns its answer (shown on stderr when `RETHINK_TEST_LOG` is set).
    func attack(_ name: String, _ args: JSONValue = [:]) async throws -> ProbeResult {
        let response = try await client.request(
            .execute, to: "hyperty://\(Self.hostile)/probe", body: ["attack": .string(name), "args": args],
            timeout: .seconds(40))
        let value = response.bodyValue
        let result = ProbeResult(
            code: response.code ?? 0, outcome: value?["outcome"]?.stringValue ?? "no answer",
            errno: value?["errno"]?.stringValue, detail: value?["detail"]?.stringValue ?? response.desc ?? "")
        if ProcessInfo.processInfo.environment["RETHINK_TEST_LOG"] != nil {
            FileHandle.standardError.write(
                Data("[attack] \(user.testDescription): \(name) \(args.jsonString) -> \(result)\n".utf8))
        }
        return result
    }

    /// The errors SPEC 9 lets a denied action fail with.
    static let denied: Set<String> = ["EACCES", "EPERM", "ECONNREFUSED"]

    @discardableResult
    func expectRefused(
        _ name: String, _ args: JSONValue = [:], _ what: String = "", errnos: Set<String>? = AttackRig.denied,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> ProbeResult {
        let result = try await attack(name, args)
        let context = "\(name) \(args.jsonString)\(what.isEmpty ? "" : " (\(what))"), \(user.testDescription)"
        #expect(
            result.code == 200 && result.outcome == "refused", "\(context): \(result)", sourceLocation: sourceLocation)
        if var errnos, result.outcome == "refused" {
            // A host path under /tmp is not even in the stub's view (its own /tmp covers it): not found. That
            // is how a checkout under /tmp (a CI clone) sees the daemon's binary and the rig's files.
            if let path = args["path"]?.stringValue, path.hasPrefix(Isolation.viewRoot + "/"),
                !path.hasPrefix(Isolation.packagePath), !path.hasPrefix(Isolation.scratchPath)
            {
                errnos.insert("ENOENT")
            }
            #expect(
                errnos.contains(result.errno ?? "none"), "\(context): refused with \(result.errno ?? "no errno")",
                sourceLocation: sourceLocation)
        }
        return result
    }

    @discardableResult
    func expectAllowed(
        _ name: String, _ args: JSONValue = [:], _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> ProbeResult {
        let result = try await attack(name, args)
        let context = "\(name) \(args.jsonString)\(what.isEmpty ? "" : " (\(what))"), \(user.testDescription)"
        #expect(
            result.code == 200 && result.outcome == "allowed", "\(context): \(result)", sourceLocation: sourceLocation)
        return result
    }

    /// The registry's entry for `domain`.
    func entry(_ domain: String) async throws -> JSONValue? {
        let listing = try await client.request(.read, to: runtimeURL + "/registry")
        return listing.bodyValue?.arrayValue?.first { $0["domain"]?.stringValue == domain }
    }

    func pid(of domain: String) async throws -> pid_t {
        guard let pid = try await entry(domain)?["pid"]?.intValue else { throw TestSetupError("\(domain) has no pid") }
        return pid_t(pid)
    }

    /// The daemon's spawn helpers: its children named `rt-spawn-helper` (one per spawner thread).
    func spawnHelpers() -> [pid_t] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.pid)/task")) ?? []
        let children = tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(daemon.pid)/task/\(task)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { pid_t($0) }
        }
        return children.filter { child in
            (try? String(contentsOfFile: "/proc/\(child)/comm", encoding: .utf8))?.hasPrefix("rt-spawn-helper") == true
        }
    }

    /// The victim's package as the daemon cached it: `<state>/packages/copies/<sha256>/echo_stub.py`.
    func cachedVictimPackage() -> String? {
        let copies = state + "/packages/copies"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: copies)) ?? []
        return entries.map { "\(copies)/\($0)/echo_stub.py" }.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// The daemon still runs and answers a new client with the victim's stub.
    func expectServing(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(daemon.isRunning, "the daemon survived the attacks", sourceLocation: sourceLocation)
        let other = try await RuntimeClient.connect(socketPath: socket)
        defer { Task { await other.close() } }
        let answer = try await other.request(
            .execute, to: "hyperty://\(Self.victim)/bob", body: ["value": "still here"])
        #expect(
            answer.code == 200, "the victim answers after the attacks: \(answer.text)", sourceLocation: sourceLocation)
        #expect(answer.bodyValue == "still here", sourceLocation: sourceLocation)
    }

    /// Kills the daemon (its stubs die with it) and removes the directory.
    func stop() {
        if daemon.isRunning {
            kill(daemon.pid, SIGKILL)
            daemon.wait()
        }
        if let paths = FileManager.default.enumerator(atPath: directory) {
            while let path = paths.nextObject() as? String { chmod("\(directory)/\(path)", 0o700) }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension Paths {
    static let hostileProbe = root.appendingPathComponent("Tests/Fixtures/stubs/hostile_probe.py").path
}
