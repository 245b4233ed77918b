import RethinkMessages

/// The bytes of one benchmark request, built by splicing the id into a fixed prefix and suffix: building
/// must cost the client next to nothing.
///
/// `{"id":<id>,"type":"create","from":<clientURL>,"to":<to>,"body":{"value":"xxx..."}}` where the body object
/// is `bodyBytes` long. `from` is always the client URL, so the daemon forwards the bytes unchanged.
struct RequestTemplate {
    private let prefix: [UInt8] = Array(#"{"id":"#.utf8)
    private let suffix: [UInt8]

    init(from: String, to: String, bodyBytes: Int) {
        let wrapper = #"{"value":""}"#.utf8.count
        let padding = String(repeating: "x", count: max(0, bodyBytes - wrapper))
        var writer = JSONWriter()
        writer.raw(#","type":"create","from":"#.utf8)
        writer.string(from)
        writer.raw(#","to":"#.utf8)
        writer.string(to)
        writer.raw(#","body":{"value":"#.utf8)
        writer.string(padding)
        writer.raw("}}\n".utf8)
        suffix = writer.bytes
    }

    /// Appends the request with `id`, newline included.
    func append(id: Int, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: prefix)
        buffer.append(contentsOf: String(id).utf8)
        buffer.append(contentsOf: suffix)
    }
}
