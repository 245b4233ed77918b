import Foundation
import RethinkMessages

/// Per-domain credentials handed to a stub in its deploy message's `body.identity` (never in its environment,
/// never logged): `<directory>/<domain-key>.json`, a JSON object. The files should be 0600.
public struct IdentityStore: Sendable {
    public let directories: [String]

    public init(directories: [String]) {
        self.directories = directories
    }

    /// The credentials for `domain`, or nil when none are configured. A file that is not a JSON object is
    /// refused with an error naming it (and not its content).
    public func identity(for domain: DomainKey) throws(DeploymentError) -> JSONValue? {
        for directory in directories {
            let path = (directory as NSString).appendingPathComponent("\(domain.value).json")
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            guard let value = try? JSONValue.parse(Array(data)), value.objectValue != nil else {
                throw DeploymentError(.badDescriptor, "credentials file \(path) for \(domain) is not a JSON object")
            }
            return value
        }
        return nil
    }
}
