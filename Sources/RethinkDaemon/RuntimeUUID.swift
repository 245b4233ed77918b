import FoundationEssentials
import RethinkCatalogue
import RethinkMessages
import SystemPackage

/// The runtime's id: a UUID kept in the state directory, so the runtime URL survives restarts.
enum RuntimeUUID {
    static func load(stateDirectory: String) throws(ConfigurationError) -> String {
        let path = FilePath(stateDirectory).appending("runtime-id").string
        if let data = FileManager.default.contents(atPath: path),
            let text = String(data: data, encoding: .utf8)?.trimmingWhitespace(),
            UUID(uuidString: text) != nil
        {
            return text.lowercased()
        }
        let id = UUID().uuidString.lowercased()
        do {
            try FileManager.default.createDirectory(
                atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try Data((id + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ConfigurationError(
                "cannot write the runtime id to \(path): \(error.operatorDescription); check --state-dir")
        }
        return id
    }
}
