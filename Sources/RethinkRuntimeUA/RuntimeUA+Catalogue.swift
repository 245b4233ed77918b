import RethinkCatalogue
import RethinkMessages

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

    /// The verified package of a network descriptor on disk (nil: the packager reads a local one).
    func fetchPackage(_ descriptor: Descriptor) async throws(DeploymentFailure) -> String? {
        guard let network, descriptor.remoteURL != nil else { return nil }
        return try await network.package(for: descriptor)
    }
}
