/// One access Landlock refused a stub, as the kernel's audit reports it (record types 1423 and 1424,
/// Linux 6.15 and later): which process, which rights (`fs.read_file`, `fs.write_file,fs.make_reg`,
/// `scope.signal`...) and on what (a path, a port, a process).
public struct LandlockDenial: Sendable, Equatable {
    public var pid: Int32
    public var blockers: String
    public var object: String

    /// What the daemon logs it as (and keys "logged once" on). The path is the stub's choice: control
    /// characters are escaped, so that a file name cannot start a line of its own in the log.
    public var description: String {
        let shown = String(
            object.unicodeScalars.flatMap { scalar -> [Character] in
                guard scalar.value < 0x20 || scalar.value == 0x7f else { return [Character(scalar)] }
                return Array("\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16))
            })
        return object.isEmpty ? blockers : "\(blockers) on \(shown)"
    }
}
