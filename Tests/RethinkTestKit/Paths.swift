import Foundation

/// Where the checkout and the built products are, without absolute paths in the sources.
public enum Paths {
    /// The package root, from this file's location.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// The build products directory: the test binary lives there.
    public static var products: URL {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("rethink-echo-stub").path) {
                return directory
            }
            directory = directory.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: executable).deletingLastPathComponent()
    }
    public static func product(_ name: String) -> String { products.appendingPathComponent(name).path }

    /// Waits until `path` exists (a socket bound, a marker written), at most `seconds`; whether it does.
    @discardableResult
    public static func waitForFile(_ path: String, seconds: Double = 10) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !FileManager.default.fileExists(atPath: path), Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        return FileManager.default.fileExists(atPath: path)
    }
    public static let stubKit = root.appendingPathComponent("stubkit").path
    public static let testingStub = root.appendingPathComponent("Tests/Fixtures/stubs/testing_stub.py").path
    public static let echoStub = root.appendingPathComponent("stubkit/examples/echo_stub.py").path
}

