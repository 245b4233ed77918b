import Foundation
import RethinkMessages
import RethinkStubPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// A real nginx on 127.0.0.1 serving `.well-known` trees over HTTPS, one document root per host name
/// (`www/<host>`), with a certificate from a CA made for the test by the `openssl` CLI. It runs as a direct
/// child of the test process and is stopped by its PID.
///
/// The host `slow.example` is served at 1 KiB/s (nginx `limit_rate`), for fetch timeouts; `loop.example`
/// redirects every request to itself, for the redirect cap.
public final class WellKnownServer: @unchecked Sendable {
    public let directory: URL
    public let port: Int
    /// The test CA, for `discovery.caBundle`.
    public let caBundle: String
    private let nginx: ChildProcess

    public init(hosts: [String]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rethink-wk-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        chmod(directory.path, 0o755)
        let path = directory.path
        caBundle = path + "/ca.pem"
        try WellKnownServer.run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                path + "/ca.key", "-out", caBundle, "-days", "2", "-subj", "/CN=rethink test CA",
            ])
        try WellKnownServer.run(
            "/usr/bin/openssl",
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                path + "/server.key", "-out", path + "/server.csr", "-subj", "/CN=\(hosts[0])",
            ])
        let extensions =
            "subjectAltName=" + hosts.map { "DNS:\($0)" }.joined(separator: ",")
            + "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        try extensions.write(toFile: path + "/server.ext", atomically: true, encoding: .utf8)
        try WellKnownServer.run(
            "/usr/bin/openssl",
            [
                "x509", "-req", "-in", path + "/server.csr", "-CA", caBundle, "-CAkey", path + "/ca.key",
                "-CAcreateserial", "-out", path + "/server.pem", "-days", "2", "-extfile", path + "/server.ext",
            ])
        for host in hosts {
            try FileManager.default.createDirectory(atPath: path + "/www/" + host, withIntermediateDirectories: true)
        }
        try FileManager.default.createDirectory(atPath: path + "/tmp", withIntermediateDirectories: true)
        var started: (Int, ChildProcess)?
        for _ in 0..<5 where started == nil {
            let candidate = try WellKnownServer.freePort()
            if let nginx = try WellKnownServer.startNginx(path: path, port: candidate) { started = (candidate, nginx) }
        }
        guard let (port, nginx) = started else {
            let log = (try? String(contentsOfFile: path + "/error.log", encoding: .utf8)) ?? ""
            throw TestSetupError("nginx did not start on 127.0.0.1 after 5 tries: \(log)")
        }
        self.port = port
        self.nginx = nginx
    }

    /// Writes the configuration for `port` and starts nginx as a direct child; nil when it could not listen
    /// there (another process took the port between our probe and nginx's bind).
    private static func startNginx(path: String, port: Int) throws -> ChildProcess? {
        let configuration = """
            daemon off;
            worker_processes 1;
            pid \(path)/nginx.pid;
            error_log \(path)/error.log warn;
            events { worker_connections 256; }
            http {
                access_log off;
                client_body_temp_path \(path)/tmp/body;
                proxy_temp_path \(path)/tmp/proxy;
                fastcgi_temp_path \(path)/tmp/fastcgi;
                uwsgi_temp_path \(path)/tmp/uwsgi;
                scgi_temp_path \(path)/tmp/scgi;
                default_type application/octet-stream;
                map $host $rethink_rate { slow.example 1k; default 0; }
                server {
                    listen 127.0.0.1:\(port) ssl;
                    server_name _;
                    ssl_certificate \(path)/server.pem;
                    ssl_certificate_key \(path)/server.key;
                    root \(path)/www/$host;
                    limit_rate $rethink_rate;
                    if ($host = "loop.example") { return 302 $request_uri; }
                    sendfile off;
                }
            }
            """
        try configuration.write(toFile: path + "/nginx.conf", atomically: true, encoding: .utf8)
        let nginx = try ChildProcess("/usr/sbin/nginx", ["-p", path, "-c", path + "/nginx.conf"])
        do {
            try waitForListener(port: port, process: nginx, errorLog: path + "/error.log")
            return nginx
        } catch {
            kill(nginx.pid, SIGTERM)
            nginx.wait()
            return nil
        }
    }

    /// The document root of `host`.
    public func root(_ host: String) -> String { directory.path + "/www/" + host }

    /// Publishes `publication` for `host` the way `rethinkctl stub pack` does; returns the package's path.
    @discardableResult
    public func publish(
        _ publication: StubPublication, host: String, package: [UInt8], fileName: String, privateKey: String? = nil
    ) throws -> String {
        try publication.write(to: root(host), package: package, fileName: fileName, privateKey: privateKey)
        let sha256 = PackageSignature.sha256Hex(package)
        return root(host) + "/.well-known/protocolstub/packages/\(sha256)/\(fileName)"
    }

    /// Path of `host`'s descriptor `name`.
    public func descriptorPath(_ host: String, name: String = "default") -> String {
        root(host) + "/.well-known/protocolstub/" + name
    }

    /// Rewrites `host`'s descriptor through `change`.
    public func editDescriptor(_ host: String, name: String = "default", _ change: (inout [(String, JSONValue)]) -> Void)
        throws
    {
        let path = descriptorPath(host, name: name)
        guard case .object(var members) = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        else { return }
        change(&members)
        try Data(JSONValue.object(members).jsonBytes).write(to: URL(fileURLWithPath: path))
    }

    public func stop() {
        kill(nginx.pid, SIGTERM)
        nginx.wait()
        try? FileManager.default.removeItem(at: directory)
    }

    /// A port nothing listens on right now.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// 127.0.0.1:`port` as a socket address.
    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return address
    }

    private static func run(_ executable: String, _ arguments: [String]) throws {
        let child = try ChildProcess(executable, arguments)
        guard child.exitCode == 0 else {
            throw TestSetupError("\(executable) \(arguments.joined(separator: " ")) failed with \(child.exitCode)")
        }
    }

    private static func waitForListener(port: Int, process: ChildProcess, errorLog: String) throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            guard process.isRunning else {
                let log = (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? ""
                throw TestSetupError("nginx exited: \(log)")
            }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = loopback(port: port)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            close(fd)
            if connected { return }
            usleep(10_000)
        }
        throw TestSetupError("nginx did not listen on 127.0.0.1:\(port) within 10 s")
    }
}
