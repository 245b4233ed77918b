import FoundationEssentials
import RethinkSandbox

/// Files shipped with the daemon: the default catalogue, the Python stub kit and the JavaScript stub host. Installed under
/// `<prefix>/share/rethink-runtimed/`; in a source checkout, found from the build directory.
enum BundledFiles {
    static var catalogue: String? { find("catalogue", inCheckout: "config/catalogue") }
    static var stubKit: String? { find("stubkit", inCheckout: "stubkit") }
    /// The JavaScript stub host, `stubkit/js/` in a checkout as installed.
    static var javascriptHost: String? {
        find("stubkit/js/rethink-stub-host.js", inCheckout: "stubkit/js/rethink-stub-host.js")
    }

    private static func find(_ installed: String, inCheckout relative: String) -> String? {
        // The executable's directory as the sandbox finds the spawn helper beside it.
        guard let executableDirectory = Sandbox.ownExecutableDirectory else { return nil }
        var directory = URL(fileURLWithPath: executableDirectory, isDirectory: true)
        let share = directory.deletingLastPathComponent().appendingPathComponent("share/rethink-runtimed/\(installed)")
            .path
        if FileManager.default.fileExists(atPath: share) { return share }
        for _ in 0..<4 {
            directory = directory.deletingLastPathComponent()
            let candidate = directory.appendingPathComponent(relative).path
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path),
                FileManager.default.fileExists(atPath: candidate)
            {
                return candidate
            }
        }
        return nil
    }
}
