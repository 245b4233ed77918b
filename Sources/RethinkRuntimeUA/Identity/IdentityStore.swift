import FoundationEssentials
import RethinkCatalogue
import RethinkMessages
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// Per-domain credentials handed to a stub in its deploy message's `body.identity` (never in its environment,
/// never logged): `<directory>/<domain-key>.json`, a JSON object.
///
/// Looked up first in systemd's `$CREDENTIALS_DIRECTORY` (`LoadCredential=acme.example.json:...` in the unit),
/// then in the configured directories, whose files must not be readable by group or others (0600): a
/// credentials file anyone can read is refused rather than used.
public struct IdentityStore: Sendable {
    public let directories: [String]
    public let systemdDirectory: String?

    public init(directories: [String], systemdDirectory: String? = nil) {
        self.directories = directories
        self.systemdDirectory = systemdDirectory
    }

    /// The credentials for `domain`, or nil when none are configured. A file that is not a JSON object, or that
    /// others may read, is refused with an error naming it (and not its content).
    public func identity(for domain: DomainKey) throws(DeploymentFailure) -> JSONValue? {
        let name = "\(domain.value).json"
        if let systemdDirectory, let value = try read(FilePath(systemdDirectory).appending(name).string, domain) {
            return value
        }
        for directory in directories {
            let path = FilePath(directory).appending(name).string
            var status = stat()
            guard stat(path, &status) == 0 else { continue }
            if status.st_mode & 0o077 != 0 {
                throw DeploymentFailure(
                    .credentials,
                    "credentials file \(path) for \(domain) is readable by group or others (mode \(String(status.st_mode & 0o777, radix: 8))); chmod 600 it"
                )
            }
            if let value = try read(path, domain) { return value }
        }
        return nil
    }

    private func read(_ path: String, _ domain: DomainKey) throws(DeploymentFailure) -> JSONValue? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let value = try? JSONValue.parse(Array(data)), value.objectValue != nil else {
            throw DeploymentFailure(.credentials, "credentials file \(path) for \(domain) is not a JSON object")
        }
        return value
    }
}
