import Foundation

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// What a renice or oom attack on a process would change.
public struct ProcessFacts: Equatable {
    public let nice: String?
    public let autogroup: String?
    public let oomScoreAdjust: String?

    public init(pid: pid_t) {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        // Fields after the command name in parentheses: state is field 3, nice field 19.
        let fields = stat.lastIndex(of: ")").map { stat[stat.index(after: $0)...].split(separator: " ") } ?? []
        nice = fields.count > 16 ? String(fields[16]) : nil
        autogroup = try? String(contentsOfFile: "/proc/\(pid)/autogroup", encoding: .utf8)
        oomScoreAdjust = try? String(contentsOfFile: "/proc/\(pid)/oom_score_adj", encoding: .utf8)
    }
}

/// `/proc/<pid>/status` as the host sees it.
public struct ProcessStatus {
    public let fields: [String: String]

    public init(pid: pid_t) {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        self.fields = fields
    }

    /// `Uid:` or `Gid:` as numbers: real, effective, saved, file system.
    public func ids(_ name: String) -> [Int64] {
        (fields[name] ?? "").split(whereSeparator: { $0 == "\t" || $0 == " " }).compactMap { Int64($0) }
    }
}
