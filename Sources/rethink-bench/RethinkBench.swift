import ArgumentParser

/// `rethink-bench`: measures rethink-runtimed against a raw relay that does the same hops without JSON, so
/// the daemon's numbers can be read as a share of what the machine's sockets and pipes allow.
@main
struct RethinkBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rethink-bench",
        abstract: "Benchmark rethink-runtimed: round trips through stubs, deploy latency, idle clients.",
        subcommands: [
            RelayCommand.self, RunCommand.self, FirstContactCommand.self, DeployCommand.self, ClientsCommand.self,
        ])
}
