import CRethinkSpawn
import Dispatch
import Glibc
import Logging
import Synchronization

/// The daemon's side of every stub's network: the stub's seccomp filter hands each `connect`, each
/// `sendto` with an address and each `sendmsg`/`sendmmsg` to this supervisor (seccomp user
/// notification), which reads the destination from the stub's memory into its own copy, decides it
/// against the stub's ``NetworkPolicy``, and, when it is allowed, performs the call itself on a
/// duplicate of the stub's socket (`pidfd_getfd`) with that copy. The stub never makes the call, so
/// it cannot change the address between the check and the use (no time-of-check/time-of-use gap),
/// nor swap the socket behind the descriptor number.
///
/// Hand-written: no library supervises seccomp notifications from Swift. One thread, `epoll` over
/// the listeners and over sockets whose blocking call is waiting to complete; name lookups run on each
/// stub's own serial queue and never hold the thread.
public final class NetworkSupervisor: Sendable {
    private let epollFD: CInt
    private let wakePipe: (read: CInt, write: CInt)
    private let stubs = Mutex<[CInt: SupervisedStub]>([:])
    private let parked = Mutex<[CInt: ParkedCall]>([:])
    private let logger: Logger

    private static let listenerTag: UInt64 = 1 << 32
    private static let parkedTag: UInt64 = 2 << 32
    private static let auditTag: UInt64 = 3 << 32
    /// Landlock's denials from the kernel's audit, when the daemon can read it (read on this thread only).
    private let audit = Mutex<LandlockAudit?>(nil)

    init(logger: Logger) throws(SandboxError) {
        self.logger = logger
        epollFD = epoll_create1(CInt(EPOLL_CLOEXEC))
        var fds: [CInt] = [-1, -1]
        guard epollFD >= 0, rt_pipe_cloexec(&fds) == 0 else {
            let error = Glibc.errno
            throw SandboxError(
                .spawnerUnavailable,
                "cannot start the network supervisor: \(SandboxError.describe(errno: error))", errno: error)
        }
        wakePipe = (fds[0], fds[1])
        add(wakePipe.read, tag: 0, events: EPOLLIN.rawValue)
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(
            &thread, nil,
            { context in
                let supervisor = Unmanaged<NetworkSupervisor>.fromOpaque(context!).takeRetainedValue()
                supervisor.run()
                return nil
            }, context)
        guard result == 0 else {
            Unmanaged<NetworkSupervisor>.fromOpaque(context).release()
            throw SandboxError(
                .spawnerUnavailable, "cannot start the network supervisor thread: \(SandboxError.describe(errno: result))")
        }
        pthread_detach(thread)
    }

    /// Supervises the stub behind `listener` until its last task exits. Takes ownership of `listener`;
    /// `pidfd` is duplicated.
    func supervise(listener: CInt, pidfd: CInt, pid: Int32, policy: NetworkPolicy, metadata: Logger.Metadata) {
        let ownPidfd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3)
        let stub = SupervisedStub(listener: listener, pidfd: ownPidfd, pid: pid, policy: policy, metadata: metadata)
        stubs.withLock { $0[listener] = stub }
        add(listener, tag: Self.listenerTag | UInt64(UInt32(bitPattern: listener)), events: EPOLLIN.rawValue)
        stub.warmUp()
    }

    /// How many stubs are supervised now (for tests and `rethinkctl`).
    public var supervisedCount: Int { stubs.withLock { $0.count } }

    // MARK: The loop

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            let count = epoll_wait(epollFD, &events, CInt(events.count), -1)
            if count < 0 {
                if Glibc.errno == EINTR { continue }
                logger.critical("network supervisor stopped: epoll_wait \(SandboxError.describe(errno: Glibc.errno))")
                return
            }
            for event in events[0..<Int(count)] {
                let tag = event.data.u64
                let fd = CInt(bitPattern: UInt32(truncatingIfNeeded: tag))
                switch tag & ~0xffff_ffff {
                case Self.listenerTag: listenerReady(fd, events: event.events)
                case Self.parkedTag: parkedReady(fd)
                case Self.auditTag: auditReady()
                default: drainWakePipe()
                }
            }
        }
    }

    private func listenerReady(_ listener: CInt, events: UInt32) {
        guard let stub = stubs.withLock({ $0[listener] }) else { return }
        if events & EPOLLIN.rawValue != 0 {
            var notification = rt_notification()
            if rt_notify_receive(listener, &notification) == 0 {
                handle(notification, of: stub)
                return
            }
            if Glibc.errno == ENOENT { return }
        }
        if events & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            // Every task of the stub has exited: nothing more can come from this listener.
            stubs.withLock { _ = $0.removeValue(forKey: listener) }
            epoll_ctl(epollFD, EPOLL_CTL_DEL, listener, nil)
            close(listener)
            close(stub.pidfd)
        }
    }

    /// Reads Landlock's denials from the kernel's audit from now on (file accesses, signals, scoped sockets).
    func watch(_ landlockAudit: LandlockAudit) {
        audit.withLock { $0 = landlockAudit }
        add(landlockAudit.fd, tag: Self.auditTag, events: EPOLLIN.rawValue)
    }

    private func auditReady() {
        let denials = audit.withLock { $0?.drain() ?? [] }
        guard !denials.isEmpty else { return }
        let byPID = stubs.withLock { stubs in Dictionary(stubs.values.map { ($0.pid, $0) }, uniquingKeysWith: { first, _ in first }) }
        for denial in denials {
            byPID[denial.pid]?.noteDenied(
                denial.description, reason: "outside what its Landlock rules grant", logger: logger)
        }
    }

    private func drainWakePipe() {
        var byte: UInt8 = 0
        _ = read(wakePipe.read, &byte, 1)
    }

    private func add(_ fd: CInt, tag: UInt64, events: UInt32) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = tag
        epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event)
    }

    // MARK: Calls

    /// The system calls the filter hands over (x86_64 numbers).
    private enum Call: Int32 {
        case connect = 42
        case sendto = 44
        case sendmsg = 46
        case sendmmsg = 307
    }

    private func handle(_ notification: rt_notification, of stub: SupervisedStub) {
        let call = SupervisedCall(notification: notification, stub: stub)
        switch Call(rawValue: notification.nr) {
        case .connect: connect(call)
        case .sendto: sendTo(call)
        case .sendmsg: sendMessages(call, vector: false)
        case .sendmmsg: sendMessages(call, vector: true)
        case nil: call.fail(ENOSYS)
        }
    }

    private func connect(_ call: SupervisedCall) {
        let length = Int(call.argument(2))
        guard length > 0, length <= 128, let address = call.read(call.argument(1), count: length) else {
            return call.fail(EFAULT)
        }
        guard let socket = call.socket(call.argument(0)) else { return }
        let destination = SocketAddress(address)
        if destination.family == AF_UNSPEC {
            // Dissolving a UDP association (or resetting a socket) reaches nobody.
            return perform(call, socket: socket, parkFor: nil) { connectSocket(socket, address) }
        }
        decide(call, socket: socket, destination: destination, datagram: false) { [self] in
            perform(call, socket: socket, parkFor: .connect) { connectSocket(socket, address) }
        }
    }

    private func sendTo(_ call: SupervisedCall) {
        let addressLength = Int(call.argument(5))
        let length = min(Int(call.argument(2)), Self.maxCopiedBytes)
        guard addressLength > 0, addressLength <= 128, let address = call.read(call.argument(4), count: addressLength),
            let data = call.read(call.argument(1), count: length)
        else { return call.fail(EFAULT) }
        guard let socket = call.socket(call.argument(0)) else { return }
        let flags = CInt(truncatingIfNeeded: call.argument(3))
        decide(call, socket: socket, destination: SocketAddress(address), datagram: true, flags: flags) { [self] in
            perform(call, socket: socket, parkFor: .send) {
                sendOne(socket, data: data, address: address, flags: flags)
            }
        }
    }

    /// `sendmsg` (one message) and `sendmmsg` (a vector; glibc's resolver sends its two queries so).
    private func sendMessages(_ call: SupervisedCall, vector: Bool) {
        let base = call.argument(1)
        let count = vector ? min(Int(call.argument(2)), 16) : 1
        let flags = CInt(truncatingIfNeeded: call.argument(vector ? 3 : 2))
        let stride = vector ? 64 : 56
        var copied: [CopiedMessage] = []
        for index in 0..<count {
            guard let header = call.read(base + UInt64(index * stride), count: 56),
                let message = CopiedMessage(header: header, from: call)
            else { return call.fail(EFAULT) }
            guard !message.hasControl else {
                // Ancillary data (descriptors, credentials) has no business on a stub's network socket.
                call.stub.noteDenied("ancillary data on sendmsg", logger: logger)
                return call.fail(EPERM)
            }
            copied.append(message)
        }
        let messages = copied
        guard let socket = call.socket(call.argument(0)) else { return }
        let named = messages.compactMap(\.address)
        let check: (@escaping @Sendable () -> Void) -> Void = { [self] next in
            guard let first = named.first else { return next() }
            // Every named destination must be allowed; they are nearly always the same one.
            let distinct = Set(named.map { SocketAddress($0) })
            guard distinct.count == 1 else {
                call.stub.noteDenied("sendmmsg to several destinations", logger: logger)
                close(socket)
                return call.fail(EACCES)
            }
            decide(call, socket: socket, destination: SocketAddress(first), datagram: true, flags: flags, then: next)
        }
        check { [self] in
            perform(call, socket: socket, parkFor: .send) {
                var sent = 0
                for (index, message) in messages.enumerated() {
                    let result = sendOne(socket, data: message.data, address: message.address, flags: flags)
                    guard result >= 0 else { return sent > 0 ? sent : result }
                    if vector {
                        var length = UInt32(result)
                        _ = rt_write_memory(
                            pid_t(call.notification.pid), base + UInt64(index * stride + 56), &length, 4)
                        sent += 1
                    } else {
                        sent = result
                    }
                }
                return sent
            }
        }
    }

    /// The most a stub hands over in one supervised send: a UDP datagram's maximum; a stream send is
    /// partial beyond it, as `send` may be.
    static let maxCopiedBytes = 65536

    // MARK: Deciding

    /// Checks the destination against the stub's policy (resolving names off this thread when only a name
    /// could allow it); runs `allowed` or refuses the call with EACCES and logs it once per destination.
    private func decide(
        _ call: SupervisedCall, socket: CInt, destination: SocketAddress, datagram: Bool, flags: CInt = 0,
        then allowed: @escaping @Sendable () -> Void
    ) {
        let type = socketOption(socket, SO_TYPE) & 0xf
        let transport: NetworkTransport
        switch type {
        case CInt(SOCK_STREAM.rawValue):
            // A stream socket ignores the address of a send unless it is a TCP Fast Open connect.
            if datagram && flags & CInt(MSG_FASTOPEN) == 0 { return allowed() }
            transport = .tcp
        case CInt(SOCK_DGRAM.rawValue): transport = .udp
        default:
            close(socket)
            return call.fail(EACCES)
        }
        guard let ip = destination.ip, let port = destination.port else {
            call.stub.noteDenied("\(transport.rawValue) to \(destination)", logger: logger)
            close(socket)
            return call.fail(destination.family == AF_UNIX ? EACCES : EAFNOSUPPORT)
        }
        let stub = call.stub
        let first = stub.policy.decide(ip, port: port, transport: transport, resolved: stub.resolvedNames)
        switch first {
        case .allow: allowed()
        case .deny: refuse(call, socket: socket, "\(transport.rawValue) to \(destination)")
        case .resolve(let names, let suffixes):
            stub.lookups.async { [self] in
                let resolved = stub.resolve(names)
                let reverse = suffixes.isEmpty ? [] : stub.confirmedNames(of: ip)
                let decision = stub.policy.decide(
                    ip, port: port, transport: transport, resolved: resolved, reverse: reverse)
                if decision == .allow {
                    allowed()
                } else {
                    refuse(call, socket: socket, "\(transport.rawValue) to \(destination)")
                }
            }
        }
    }

    private func refuse(_ call: SupervisedCall, socket: CInt, _ what: String) {
        call.stub.noteDenied(what, logger: logger)
        close(socket)
        call.fail(EACCES)
    }

    // MARK: Performing

    private enum Wait { case connect, send }

    /// Runs `operation` on the duplicate socket and answers the stub with its result. A call the stub made
    /// on a blocking socket that cannot complete now is parked until the socket is writable, so the stub
    /// blocks as it would have, and this thread does not.
    private func perform(_ call: SupervisedCall, socket: CInt, parkFor wait: Wait?, operation: @escaping @Sendable () -> Int) {
        let flags = fcntl(socket, F_GETFL)
        let blocking = flags >= 0 && flags & O_NONBLOCK == 0
        if blocking { _ = fcntl(socket, F_SETFL, flags | O_NONBLOCK) }
        let result = operation()
        let error = Glibc.errno
        if blocking { _ = fcntl(socket, F_SETFL, flags) }
        if result >= 0 {
            call.succeed(Int64(result))
            close(socket)
            return
        }
        if blocking, let wait, (wait == .connect && error == EINPROGRESS) || (wait == .send && error == EAGAIN) {
            park(ParkedCall(call: call, socket: socket, retry: wait == .send ? operation : nil))
            return
        }
        close(socket)
        call.fail(error)
    }

    private func park(_ parkedCall: ParkedCall) {
        parked.withLock { $0[parkedCall.socket] = parkedCall }
        add(
            parkedCall.socket, tag: Self.parkedTag | UInt64(UInt32(bitPattern: parkedCall.socket)),
            events: EPOLLOUT.rawValue | EPOLLONESHOT.rawValue)
    }

    private func parkedReady(_ socket: CInt) {
        guard let parkedCall = parked.withLock({ $0.removeValue(forKey: socket) }) else { return }
        epoll_ctl(epollFD, EPOLL_CTL_DEL, socket, nil)
        guard let retry = parkedCall.retry else {
            let error = socketOption(socket, SO_ERROR)
            close(socket)
            return error == 0 ? parkedCall.call.succeed(0) : parkedCall.call.fail(error)
        }
        perform(parkedCall.call, socket: socket, parkFor: .send, operation: retry)
    }

    private func socketOption(_ socket: CInt, _ option: CInt) -> CInt {
        var value: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        return getsockopt(socket, SOL_SOCKET, option, &value, &length) == 0 ? value : -1
    }
}

/// A call waiting for its socket to become writable.
private struct ParkedCall: Sendable {
    let call: SupervisedCall
    let socket: CInt
    /// The send to try again; nil for a connect, whose result is the socket's SO_ERROR.
    let retry: (@Sendable () -> Int)?
}

private func connectSocket(_ socket: CInt, _ address: [UInt8]) -> Int {
    address.withUnsafeBytes { raw in
        Int(Glibc.connect(socket, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count)))
    }
}

private func sendOne(_ socket: CInt, data: [UInt8], address: [UInt8]?, flags: CInt) -> Int {
    let flags = flags | CInt(MSG_NOSIGNAL)
    return data.withUnsafeBytes { payload in
        guard let address else { return Glibc.send(socket, payload.baseAddress, payload.count, flags) }
        return address.withUnsafeBytes { raw in
            Glibc.sendto(
                socket, payload.baseAddress, payload.count, flags, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self),
                socklen_t(raw.count))
        }
    }
}
