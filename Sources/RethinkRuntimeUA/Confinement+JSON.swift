import RethinkCatalogue
import RethinkMessages
import RethinkSandbox

extension Confinement {
    /// The registry's `confinement` field: the one-line summary and each figure.
    var json: JSONValue {
        var fields: [(String, JSONValue)] = [
            ("summary", .string(summary)), ("uid", .int(Int64(uid))),
            ("namespaceUID", namespaceUID.map { .int(Int64($0)) } ?? .null),
            ("landlock", .int(Int64(landlockABI))), ("seccomp", .string(seccompProfile)),
            ("networkSupervised", .bool(networkSupervised)), ("networkRules", .int(Int64(networkRules))),
            ("openFiles", .int(Int64(limits.openFiles))), ("nice", .int(Int64(nice))),
        ]
        if let memory = limits.memoryBytes { fields.append(("memoryBytes", .int(Int64(memory)))) }
        if let tasks = limits.tasks { fields.append(("tasks", .int(Int64(tasks)))) }
        if let size = limits.fileSizeBytes { fields.append(("fileSizeBytes", .int(Int64(size)))) }
        if let scratch = scratchBytes { fields.append(("scratchBytes", .int(Int64(scratch)))) }
        return .object(fields)
    }
}
