import NIOCore
import RethinkMessages

/// The one-line summary systemd shows in `systemctl status` (`STATUS=`): stubs by status and clients,
/// kept current as statuses change and clients come and go.
///
/// Confined to the bus's event loop. Changes are coalesced: at most one datagram per 100 ms.
final class ServiceStatus: @unchecked Sendable {
    private let eventLoop: EventLoop
    private let notifier: SystemdNotifier
    private var stubs: [DomainKey: StubStatus] = [:]
    private var clients = 0
    private var pending: Scheduled<Void>?
    private(set) var lastSent = ""

    init(eventLoop: EventLoop, notifier: SystemdNotifier) {
        self.eventLoop = eventLoop
        self.notifier = notifier
    }

    func stubChanged(_ domain: DomainKey, to status: StubStatus) {
        eventLoop.preconditionInEventLoop()
        stubs[domain] = status == .undeployed ? nil : status
        scheduleUpdate()
    }

    func clientsChanged(by delta: Int) {
        eventLoop.preconditionInEventLoop()
        clients += delta
        scheduleUpdate()
    }

    /// `3 stubs live, 1 deploying, 0 disconnected, 0 failed, 1 dead; 2 clients`
    var text: String {
        var live = 0, deploying = 0, disconnected = 0, failed = 0, dead = 0
        for status in stubs.values {
            switch status {
            case .live: live += 1
            case .deploying, .deployed, .created, .inProgress: deploying += 1
            case .disconnected: disconnected += 1
            case .failed, .deploymentFailed: failed += 1
            case .dead: dead += 1
            case .undeployed: break
            }
        }
        return
            "\(live) stub\(live == 1 ? "" : "s") live, \(deploying) deploying, \(disconnected) disconnected, \(failed) failed, \(dead) dead; \(clients) client\(clients == 1 ? "" : "s")"
    }

    /// Sends the current text now (start-up, reload).
    func sendNow(prefix: String = "") {
        lastSent = text
        // A bare status line is not worth waiting for (the next change sends it again); READY=1 is.
        notifier.notify(prefix + "STATUS=" + lastSent, waiting: !prefix.isEmpty)
    }

    private func scheduleUpdate() {
        guard notifier.isActive, pending == nil else { return }
        pending = eventLoop.scheduleTask(in: .milliseconds(100)) { [self] in
            pending = nil
            guard text != lastSent else { return }
            sendNow()
        }
    }
}
