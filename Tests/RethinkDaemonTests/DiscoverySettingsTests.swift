import Foundation
import Logging
import RethinkDaemon
import RethinkTestKit
import Testing

/// The `discovery` section of the configuration file: read as documented, and a typo refused rather than
/// silently turning a protection off.
struct DiscoverySettingsTests {
    private func load(_ json: String) throws -> DaemonConfiguration {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("discovery-\(UUID().uuidString).json")
        try json.write(to: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: path) }
        return try DaemonConfiguration.load(path: path.path)
    }

    @Test func discoverySectionIsReadWithItsDefaultsForWhatItLeavesOut() throws {
        let configuration = try load(
            """
            {"discovery": {"catalogueDomain": "catalogue.example", "resolve": {"acme.example": "192.0.2.7:8443"},
             "insecureHosts": ["intranet.example"], "fetchTimeoutSeconds": 3}}
            """)
        #expect(configuration.discovery.catalogueDomain == "catalogue.example")
        #expect(configuration.discovery.resolve == ["acme.example": "192.0.2.7:8443"])
        #expect(configuration.discovery.insecureHosts == ["intranet.example"])
        #expect(configuration.discovery.fetchTimeoutSeconds == 3)
        #expect(configuration.discovery.connectTimeoutSeconds == 5)
        #expect(configuration.discovery.enabled)
    }

    @Test func misspeltDiscoveryKeyIsRefusedNamingTheKnownOnes() {
        let error = #expect(throws: ConfigurationError.self) {
            try load(#"{"discovery": {"trustedKey": ["abc"]}}"#)
        }
        #expect(error?.message.contains("unknown setting discovery.trustedKey;") == true)
        #expect(error?.message.contains("trustedKeys") == true)
    }

    @Test func trustedKeyThatIsNotAnEd25519KeyStopsTheDaemonFromStarting() throws {
        var configuration = DaemonConfiguration()
        configuration.stateDirectory =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("discovery-state-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: configuration.stateDirectory) }
        configuration.discovery.trustedKeys = ["bm90IGEga2V5"]
        let error = #expect(throws: ConfigurationError.self) {
            _ = try Daemon(configuration: configuration, logger: Logger(label: "test"))
        }
        #expect(error?.message.contains("discovery.trustedKeys") == true, "\(error?.message ?? "")")
    }
}
