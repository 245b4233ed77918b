import FoundationEssentials
import RethinkCatalogue
import RethinkMessages
import RethinkStubPackage
import SystemPackage

extension RuntimeUA {
    /// The lookup order of SPEC section 7: the local catalogue directories, then the network (the domain's
    /// `.well-known` URI, then the runtime's catalogue domain).
    func findDescriptor(_ domain: DomainKey) async throws(DeploymentFailure) -> Descriptor {
        do {
            return try catalogue.descriptor(for: domain)
        } catch {
            guard error.code == .noDescriptor, let network else { throw error }
            return try await network.descriptor(for: domain)
        }
    }

    /// The verified package of a network descriptor on disk, or a local archive unpacked; nil: the packager
    /// runs a local file in place.
    func fetchPackage(_ descriptor: Descriptor) async throws(DeploymentFailure) -> String? {
        if descriptor.remoteURL == nil, case .file(let path) = descriptor.source {
            return try unpackedLocalArchive(descriptor, path: path)
        }
        guard let network, descriptor.remoteURL != nil else { return nil }
        return try await network.package(for: descriptor)
    }

    /// A local package that is a tar.gz archive (a domain's published `.well-known` tree shipped as a
    /// catalogue, say) is unpacked into the package cache as a fetched one is, with the same checks of its
    /// entries, and its sha256 checked when the descriptor gives one; a plain file is nil (run in place).
    private func unpackedLocalArchive(_ descriptor: Descriptor, path: String) throws(DeploymentFailure) -> String? {
        guard let file = try? FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec) else { return nil }
        var head = [UInt8](repeating: 0, count: 2)
        let count = (try? file.closeAfter { try head.withUnsafeMutableBytes { try file.read(into: $0) } }) ?? 0
        guard Gzip.isGzip(Array(head.prefix(count))) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DeploymentFailure(
                .badPackage, "stub package \(path) for \(descriptor.domain) cannot be read (named by \(descriptor.origin))")
        }
        let bytes = Array(data)
        // The operator's own file: no signature asked for (the store checks one only against trusted keys,
        // which this store has none of); the digest, when the descriptor names one.
        let store = try PackageStore(stateDirectory: packager.stateDirectory, configuration: DiscoveryConfiguration())
        let checked = descriptor.sha256 == nil ? descriptor.withSHA256(PackageSignature.sha256Hex(bytes)) : descriptor
        return try store.store(bytes, for: checked, from: path)
    }
}
