import RethinkCatalogue
import RethinkMessages

/// What the Runtime UA holds for one domain: its deploy under way, its current stub, the newer version coming
/// up beside it (live upgrade) and the stubs on their way out (replaced by a newer version and still answering
/// what they had, or being stopped). One value per domain, in one dictionary: a domain with none of these has
/// no entry.
///
/// Whether the domain is backing off after a crash or dead is its Registry record's status (the status stream
/// is the one source of truth); this holds only what the processes need.
struct DomainStubs {
    var deployment: Task<Result<String, DeploymentFailure>, Never>?
    var current: StubRecord?
    var successor: StubRecord?
    /// Stubs on their way out, by URL: a stub that is being stopped is never `current`, so a deploy may start
    /// beside it while it ends.
    var leaving: [String: StubRecord] = [:]

    var isEmpty: Bool { deployment == nil && current == nil && successor == nil && leaving.isEmpty }

    /// The current stub once attached (it may still be handshaking).
    var usable: StubInstance? { current?.instance }

    /// Moves the stub at `url` to ``leaving`` in state stopping; returns its instance the first time (nil when
    /// it was already stopping, never attached or gone).
    mutating func leave(_ url: String) -> StubInstance? {
        var record: StubRecord
        if current?.url == url {
            record = current!
            current = nil
        } else if successor?.url == url {
            record = successor!
            successor = nil
        } else if let found = leaving[url] {
            record = found
        } else {
            return nil
        }
        let instance = record.stop()
        leaving[url] = record
        return instance
    }

    /// Applies `body` to the record of the stub at `url`, wherever it stands in the domain.
    mutating func update<Result>(_ url: String, _ body: (inout StubRecord) -> Result) -> Result? {
        if current?.url == url { return body(&current!) }
        if successor?.url == url { return body(&successor!) }
        if leaving[url] != nil { return body(&leaving[url]!) }
        return nil
    }

    /// Forgets the stub at `url` (it exited, or was stopped and its pipes closed).
    mutating func remove(_ url: String) {
        if current?.url == url { current = nil }
        if successor?.url == url { successor = nil }
        leaving[url] = nil
    }
}
