import CZlib

/// gzip through the system zlib (zlib1g): stub archives are `.tar.gz`. Decompression stops at a limit, so a
/// small hostile package cannot expand into gigabytes (a "zip bomb").
public enum Gzip {
    /// Whether `bytes` start with gzip's magic number.
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    public static func decompress(_ bytes: [UInt8], limit: Int) throws(PackageError) -> [UInt8] {
        var stream = z_stream()
        guard rethink_inflate_init_gzip(&stream) == Z_OK else {
            throw PackageError(.malformed, "zlib could not start decompressing")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var input = bytes
        var status: Int32 = Z_OK
        input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = uInt(target.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    output.append(contentsOf: target[0..<(target.count - Int(stream.avail_out))])
                }
            } while status == Z_OK && output.count <= limit && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        if output.count > limit {
            throw PackageError(.tooLarge, "the archive unpacks to more than \(limit) bytes")
        }
        guard status == Z_STREAM_END else {
            throw PackageError(.malformed, "the package is not valid gzip (zlib status \(status))")
        }
        return output
    }

    public static func compress(_ bytes: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        guard rethink_deflate_init_gzip(&stream) == Z_OK else { return [] }
        defer { deflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var input = bytes
        var status: Int32 = Z_OK
        input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = uInt(target.count)
                    status = deflate(&stream, Z_FINISH)
                    output.append(contentsOf: target[0..<(target.count - Int(stream.avail_out))])
                }
            } while status == Z_OK
        }
        return output
    }
}
