import Foundation
import RethinkCatalogue
import RethinkDaemon
import RethinkRuntimeUA
import RethinkSandbox
import RethinkTestKit
import Testing

/// Every section of the configuration file is read by one rule: the documented minimal section decodes, an
/// unknown key is refused with its path, and what a section leaves out keeps its documented default.
struct ConfigurationSectionTests {
    private static func load(_ json: String) throws(ConfigurationError) -> DaemonConfiguration {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString).json")
        FileManager.default.createFile(atPath: path.path, contents: Data(json.utf8))
        defer { try? FileManager.default.removeItem(at: path) }
        return try DaemonConfiguration.load(path: path.path)
    }

    /// A section as the docs show it, and one misspelt key in it with the path the error must name.
    static let sections: [(minimal: String, misspelt: String, path: String)] = [
        (#"{"socket": "/run/r.sock"}"#, #"{"sockt": "/run/r.sock"}"#, "sockt"),
        (#"{"sandbox": {"defaultAction": "kill"}}"#, #"{"sandbox": {"fileSizeByte": 1}}"#, "sandbox.fileSizeByte"),
        (
            #"{"discovery": {"catalogueDomain": "catalogue.example"}}"#, #"{"discovery": {"trustedKey": []}}"#,
            "discovery.trustedKey"
        ),
        (
            #"{"domains": {"acme.example": {"memoryBytes": 1048576}}}"#,
            #"{"domains": {"acme.example": {"memoryByte": 1}}}"#, #"domains."acme.example".memoryByte"#
        ),
    ]

    @Test(arguments: sections.map(\.minimal))
    func theDocumentedMinimalSectionDecodes(_ json: String) throws {
        _ = try Self.load(json)
    }

    @Test(arguments: sections.map { ($0.misspelt, $0.path) })
    func anUnknownKeyIsRefusedWithItsPath(_ json: String, path: String) {
        let error = #expect(throws: ConfigurationError.self) { try Self.load(json) }
        #expect(error?.message.contains("unknown setting \(path);") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("known") == true, "the known keys are listed")
    }

    @Test func theSandboxSectionKeepsEveryLimitItLeavesOut() throws {
        let sandbox = try Self.load(#"{"sandbox": {"defaultAction": "kill"}}"#).sandbox
        #expect(sandbox.defaultAction == .kill)
        let defaults = ResourceLimits.stubDefault
        #expect(sandbox.fileSizeBytes == defaults.fileSizeBytes, "leaving fileSizeBytes out keeps the limit")
        #expect(sandbox.fileSizeBytes != nil)
        #expect(sandbox.openFiles == defaults.openFiles)
        #expect(sandbox.memoryBytes == defaults.memoryBytes)
        #expect(sandbox.tasks == defaults.tasks)
        #expect(sandbox.cpuSeconds == defaults.cpuSeconds)
        #expect(sandbox.confinement == "full")
        #expect(try Self.load(#"{"sandbox": {"fileSizeBytes": null}}"#).sandbox.fileSizeBytes == nil, "null: off")
    }

    @Test func spawnHelpersAreOnUnlessTurnedOffAndMustBeABoolean() throws {
        #expect(try Self.load(#"{"sandbox": {}}"#).sandbox.spawnHelpers == true)
        #expect(try Self.load(#"{"sandbox": {"spawnHelpers": false}}"#).sandbox.spawnHelpers == false)
        #expect(throws: (any Error).self) { try Self.load(#"{"sandbox": {"spawnHelpers": "no"}}"#) }
    }

    @Test func spawnersDefaultToTwoPerCoreAndAnOutOfRangeCountIsRefused() throws {
        #expect(try Self.load(#"{"sandbox": {}}"#).sandbox.spawners == nil)
        #expect(try Self.load(#"{"sandbox": {"spawners": 3}}"#).sandbox.spawners == 3)
        #expect((2...8).contains(Sandbox.defaultSpawnerCount))
        for count in [0, 65] {
            let error = #expect(throws: ConfigurationError.self) { try Self.load(#"{"sandbox": {"spawners": \#(count)}}"#) }
            #expect(error?.message.contains("sandbox.spawners must be between 1 and 64") == true, "\(error?.message ?? "")")
        }
        #expect(try Self.load(#"{"sandbox": {"spawners": 64}}"#).sandbox.spawners == 64)
    }

    @Test func theDiscoverySectionKeepsTheCataloguesDefaults() throws {
        let discovery = try Self.load(#"{"discovery": {"catalogueDomain": "catalogue.example"}}"#).discovery
        var expected = DiscoverySettings()
        expected.catalogueDomain = "catalogue.example"
        #expect(discovery == expected)
        let module = DiscoveryConfiguration()
        #expect(discovery.fetchTimeoutSeconds == Double(module.fetchTimeout.nanoseconds) / 1e9)
        #expect(discovery.maxPackageBytes == module.maxPackageBytes)
        #expect(discovery.enabled)
    }

    @Test func aDomainSectionSetsOnlyWhatItNames() throws {
        let domain = try #require(
            try Self.load(#"{"domains": {"acme.example": {"memoryBytes": 1048576}}}"#).domains["acme.example"])
        var expected = DomainSandbox()
        expected.memoryBytes = 1_048_576
        #expect(domain == expected)
    }

    @Test func theTopLevelKeepsEveryDefaultItLeavesOut() throws {
        var expected = DaemonConfiguration()
        expected.socket = "/run/r.sock"
        #expect(try Self.load(#"{"socket": "/run/r.sock"}"#) == expected)
        #expect(expected.responseTimeoutSeconds == 15 && expected.queueLimit == 1000 && expected.stubIdleSeconds == 300)
    }

    @Test func aValueOfTheWrongTypeNamesTheSettingAndWhatItTakes() {
        let error = #expect(throws: ConfigurationError.self) { try Self.load(#"{"sandbox": {"openFiles": "many"}}"#) }
        #expect(error?.message.hasSuffix("sandbox.openFiles: expected a number") == true, "\(error?.message ?? "")")
    }

    /// `--socket rt.sock` in a shell means the file in that directory; a configuration file's relative paths
    /// mean places beside the file; and the metrics socket sits beside a relative client socket, not at `/`.
    @Test func relativePathsResolveAgainstTheFilesDirectoryAndTheMetricsSocketFollows() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("config-dir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("r.json")
        let json = #"{"socket": "run/rt.sock", "stateDirectory": "state", "catalogues": ["../cat", "/abs/cat"]}"#
        FileManager.default.createFile(atPath: file.path, contents: Data(json.utf8))
        let loaded = try DaemonConfiguration.load(path: file.path)
        let base = (directory.path as NSString).standardizingPath
        #expect(loaded.socket == base + "/run/rt.sock")
        #expect(loaded.stateDirectory == base + "/state")
        #expect(loaded.catalogues == [(base as NSString).deletingLastPathComponent + "/cat", "/abs/cat"])
        #expect(loaded.metricsSocketPath == base + "/run/metrics.sock")

        var bare = DaemonConfiguration()
        bare.socket = "rt.sock"
        #expect(bare.metricsSocketPath == "./metrics.sock")
        #expect(DaemonConfiguration.absolute("rt.sock", against: nil) == FileManager.default.currentDirectoryPath + "/rt.sock")
    }

    /// config/rethink-runtimed.json documents the defaults: what it states is what the daemon uses unset.
    @Test func theShippedExampleStatesTheCompiledDefaults() throws {
        let shipped = try DaemonConfiguration.load(
            path: Paths.root.appendingPathComponent("config/rethink-runtimed.json").path)
        var expected = DaemonConfiguration()
        expected.catalogues = shipped.catalogues
        expected.pythonPath = shipped.pythonPath
        expected.javascriptHost = shipped.javascriptHost
        #expect(shipped == expected)
    }
}
