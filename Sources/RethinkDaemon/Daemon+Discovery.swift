import Logging
import RethinkCatalogue
import RethinkRuntimeUA

extension Daemon {
    /// The network catalogue, unless `discovery.enabled` is false.
    static func makeNetworkCatalogue(_ configuration: DaemonConfiguration, logger: Logger) throws
        -> NetworkCatalogue?
    {
        guard configuration.discovery.enabled else { return nil }
        do {
            return try NetworkCatalogue(
                configuration: configuration.discovery.configuration, stateDirectory: configuration.stateDirectory,
                logger: logger)
        } catch {
            throw ConfigurationError(error.message)
        }
    }
}
