import Foundation
import RethinkClient
import RethinkMessages
import RethinkTestKit
import Testing

/// A client can name any number of domains nobody publishes: each costs the daemon a route and a line of log
/// only for a while, and only so many lines.
@Suite(.timeLimit(.minutes(2)))
struct UnknownDomainTests {
    @Test func routesOfUnknownDomainsAreForgottenAndTheirLogLinesLimited() async throws {
        try await using(TestRuntime(descriptors: ["known.example": TestRuntime.native])) { runtime in
            let client = try await runtime.client()
            let bus = runtime.daemon.bus
            // A failure remembered for 5 s (not the default 2): long enough to be seen on a slow host.
            try await bus.eventLoop.submit {
                var configuration = bus.configuration
                configuration.failureMemory = .seconds(5)
                bus.reconfigure(configuration)
            }.get()
            // The log limit's first window opens with this first unknown domain: count windows from here.
            let started = Date()
            #expect(try await client.request(.read, to: "hyperty://nobody-first.example/x").code == 404)
            #expect(try await bus.eventLoop.submit { bus.routeCount }.get() >= 1, "the unknown domain has its route for now")
            // Sent at once, not one round trip after another: the 300 fall in one 10 s window of the log limit even
            // on a slow host.
            for index in 0..<300 {
                try await client.send(
                    Message.make(
                        id: .int(Int64(index + 1000)), type: .read, from: client.greeting.clientURL,
                        to: "hyperty://nobody-\(index).example/x"))
            }
            let answers = await client.collect(300, seconds: 60) { $0.type == .response }
            #expect(answers.count == 300)
            #expect(answers.allSatisfy { $0.code == 404 })
            let windows = Int(Date().timeIntervalSince(started) / 10) + 1
            #expect(try await client.request(.read, to: "hyperty://known.example/x").code == 200)
            // The bus remembers a deployment failure for 5 s (failureMemory); then only the live stub's route is left.
            let deadline = Date().addingTimeInterval(30)
            var routes = Int.max
            while routes > 1, Date() < deadline {
                try await Task.sleep(for: .milliseconds(200))
                routes = try await bus.eventLoop.submit { bus.routeCount }.get()
            }
            #expect(routes == 1, "\(routes) routes left")
            let lines = runtime.logs.all.filter { $0.message.hasPrefix("cannot deploy a stub for nobody-") }
            #expect(lines.count <= 100 * windows, "\(lines.count) lines for 300 unknown domains in \(windows) window(s)")
            if windows < 3 { #expect(lines.count < 300, "the limit bit") }
            #expect(try await client.request(.read, to: "hyperty://nobody-0.example/x").code == 404, "still answered")
        }
    }
}
