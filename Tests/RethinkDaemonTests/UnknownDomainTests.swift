import Foundation
import RethinkClient
import RethinkMessages
import Testing

/// A client can name any number of domains nobody publishes: each costs the daemon a route and a line of log
/// only for a while, and only so many lines.
@Suite(.timeLimit(.minutes(2)))
struct UnknownDomainTests {
    @Test func routesOfUnknownDomainsAreForgottenAndTheirLogLinesLimited() async throws {
        let runtime = try await TestRuntime(descriptors: ["known.example": TestRuntime.native])
        defer { Task { await runtime.stop() } }
        let client = try await runtime.client()
        let bus = runtime.daemon.bus
        #expect(try await client.request(.read, to: "hyperty://nobody-first.example/x").code == 404)
        #expect(try await bus.eventLoop.submit { bus.routeCount }.get() >= 1, "the unknown domain has its route for now")
        for index in 0..<300 {
            let answer = try await client.request(.read, to: "hyperty://nobody-\(index).example/x")
            #expect(answer.code == 404)
        }
        #expect(try await client.request(.read, to: "hyperty://known.example/x").code == 200)
        // The bus remembers a deployment failure for 2 s (failureMemory); then only the live stub's route is left.
        let deadline = Date().addingTimeInterval(10)
        var routes = Int.max
        while routes > 1, Date() < deadline {
            try await Task.sleep(for: .milliseconds(200))
            routes = try await bus.eventLoop.submit { bus.routeCount }.get()
        }
        #expect(routes == 1, "\(routes) routes left")
        let lines = runtime.logs.all.filter { $0.message.hasPrefix("cannot deploy a stub for nobody-") }
        #expect(lines.count <= 100, "\(lines.count) lines for 300 unknown domains")
        #expect(try await client.request(.read, to: "hyperty://nobody-0.example/x").code == 404, "still answered")
    }
}
