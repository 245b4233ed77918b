import FoundationEssentials
import Logging
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// Where the daemon's log goes (`logTarget` in the configuration, `--log-target`).
public enum LogTarget: String, Sendable, Codable, CaseIterable {
    /// The journal when systemd connected stderr to it (`$JOURNAL_STREAM`), else stderr: the right thing
    /// both under systemd and in a terminal.
    case auto
    /// The journal's native socket; stderr with a warning when there is none.
    case journal
    /// Plain lines on stderr.
    case stderr

    /// The socket of the system journal.
    public static let defaultJournalSocket = "/run/systemd/journal/socket"

    /// Installs the process-wide log handler factory and says where logs go (for the start-up line).
    /// - Parameter journalSocket: a namespace's socket, e.g. `/run/systemd/journal.NAME/socket`, for tests.
    public static func bootstrap(
        _ target: LogTarget, journalSocket: String, identifier: String, level: LogLevelControl,
        dropped: DroppedLineCounter, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        let wantsJournal: Bool
        switch target {
        case .auto: wantsJournal = environment["JOURNAL_STREAM"].map { !$0.isEmpty } ?? false
        case .journal: wantsJournal = true
        case .stderr: wantsJournal = false
        }
        var note = "stderr"
        if wantsJournal {
            do {
                let journal = try JournalSocket(path: journalSocket)
                LoggingSystem.bootstrap { _ in
                    JournalLogHandler(
                        identifier: identifier, journal: journal, level: level, dropped: dropped,
                        fallback: writeToStandardError)
                }
                return "the journal (\(journalSocket))"
            } catch {
                note = "stderr (\(error.message))"
            }
        }
        LoggingSystem.bootstrap { label in
            LevelControlledHandler(StreamLogHandler.standardError(label: label), level: level)
        }
        return note
    }
}

@Sendable private func writeToStandardError(_ line: String) {
    // A log line has nowhere else to go when stderr fails: dropped.
    _ = try? FileDescriptor.standardError.writeAll((line + "\n").utf8)
}
