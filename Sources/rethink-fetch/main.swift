// rethink-fetch: one HTTPS GET for the daemon's network catalogue, run by the daemon under the stub sandbox
// (its own uid, seccomp, Landlock, and a network policy naming only the host asked for). The request is one
// JSON line on stdin (RethinkFetchWire.FetchRequest); the answer is one JSON line on stdout and the body after
// it (FetchReply). It holds no secret and writes no file: what it brings back is checked by the daemon.
import AsyncHTTPClient
import FoundationEssentials
import Glibc
import RethinkFetchWire

let input = StandardStreams.readLine(limit: 64 << 10)
let reply: FetchReply
let body: [UInt8]
// The client is never shut down: the process ends once the reply is written, and a shutdown would first wait
// for the connection, which a server still sending a body past the limit keeps open.
var client: HTTPClient?
if let input, let request = try? JSONDecoder().decode(FetchRequest.self, from: Data(input)) {
    let getter = Getter(request)
    do {
        client = try getter.makeClient()
        (reply, body) = getter.get(client!)
    } catch {
        (reply, body) = (FetchReply(failure: .refused, description: "\(error)"), [])
    }
} else {
    (reply, body) = (FetchReply(failure: .refused, description: "rethink-fetch: no readable request on stdin"), [])
}
var output = Array((try? JSONEncoder().encode(reply)) ?? Data())
output.append(UInt8(ascii: "\n"))
output += body
exit(StandardStreams.writeAll(output) ? 0 : 1)
