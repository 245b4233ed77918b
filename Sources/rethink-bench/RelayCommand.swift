import ArgumentParser

/// `rethink-bench relay`: serves the baseline relay, for `run` to measure next to the daemon.
struct RelayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Serve the baseline: a byte relay from a unix socket to `<stub> --raw`, one child per connection.",
        discussion: "Runs until killed. Greets each client like rethink-runtimed does, then relays lines unchanged.")

    @Option(help: "Unix socket to serve (an existing file there is replaced).")
    var socket: String

    @Option(help: "The rethink-echo-stub executable; it is run with --raw.")
    var stub: String

    func run() throws {
        try RawRelay(socketPath: socket, stubPath: stub).serve()
    }
}
