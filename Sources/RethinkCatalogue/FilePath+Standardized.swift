import Glibc
import SystemPackage

extension FilePath {
    /// This path as Foundation's `standardizingPath` gave it (what the daemon used before it dropped Foundation):
    /// `.` components and doubled or trailing slashes go, and in an absolute path the symbolic links of the part that
    /// exists are resolved before a `..` takes a component off, so `<link>/../x` still names what the kernel would
    /// open; `lexicallyNormalized()` alone would cancel `<link>/..` as text. (Foundation resolved a link with a
    /// relative target only when that target happened to exist below the working directory; this always does.)
    /// A relative path only loses its `.` components: its `..` mean whatever the working directory holds.
    package func standardized() -> FilePath {
        guard let root else { return FilePath(root: nil, components.filter { $0.kind != .currentDirectory }) }
        var resolved = FilePath(root: root, [])
        for component in components {
            switch component.kind {
            case .currentDirectory: continue
            case .parentDirectory: resolved.removeLastComponent()
            case .regular:
                resolved.append(component)
                if let real = resolved.realPath() { resolved = real }
            }
        }
        return resolved
    }

    /// realpath(3): nil when a component is missing or cannot be looked at.
    private func realPath() -> FilePath? {
        withPlatformString { path in
            guard let real = realpath(path, nil) else { return nil }
            defer { free(real) }
            return FilePath(platformString: real)
        }
    }
}
