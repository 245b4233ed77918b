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

    @Option(
        help: """
            Start this many echo children once and spread each connection's lines over them in turn (the \
            baseline of the many-domains phase); 0: one child per connection.
            """)
    var fanout = 0

    func validate() throws {
        guard fanout >= 0 else { throw ValidationError("--fanout is a count of children (0: one per connection)") }
    }

    func run() throws {
        if fanout > 0 { try FanoutRelay(socketPath: socket, stubPath: stub, fanout: fanout).serve() }
        try RawRelay(socketPath: socket, stubPath: stub).serve()
    }
}
