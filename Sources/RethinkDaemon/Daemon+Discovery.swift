import Logging
import RethinkCatalogue
import RethinkRuntimeUA
import RethinkSandbox

extension Daemon {
    /// The network catalogue, unless `discovery.enabled` is false. Its fetches run in `sandbox`, confined as
    /// stubs are (`sandbox.confinement`, `sandbox.landlock`, `sandbox.defaultAction`).
    static func makeNetworkCatalogue(_ configuration: DaemonConfiguration, sandbox: Sandbox, logger: Logger) throws
        -> NetworkCatalogue?
    {
        guard configuration.discovery.enabled else { return nil }
        let settings = FetcherLauncher.Settings(
            confined: configuration.sandbox.confinement == "full", landlock: configuration.sandbox.landlock,
            defaultAction: configuration.sandbox.defaultAction)
        let launcher = FetcherLauncher(
            sandbox: sandbox, settings: settings, stateDirectory: configuration.stateDirectory, logger: logger)
        do {
            return try NetworkCatalogue(
                configuration: configuration.discovery.configuration, stateDirectory: configuration.stateDirectory,
                launcher: launcher, logger: logger)
        } catch {
            throw ConfigurationError(error.message)
        }
    }
}
