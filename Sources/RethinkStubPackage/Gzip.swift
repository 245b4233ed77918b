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
        let (output, status) = run(&stream, over: bytes, limit: limit) { inflate(&$0, Z_NO_FLUSH) }
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
        return run(&stream, over: bytes, limit: .max) { deflate(&$0, Z_FINISH) }.output
    }

    /// Feeds `input` to `step` (inflate or deflate) in 64 KiB output chunks until it stops returning `Z_OK`,
    /// the output passes `limit`, or the input is used up with room left in the last chunk.
    private static func run(
        _ stream: inout z_stream, over input: [UInt8], limit: Int, step: (inout z_stream) -> Int32
    ) -> (output: [UInt8], status: Int32) {
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var input = input
        var status: Int32 = Z_OK
        input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = uInt(target.count)
                    status = step(&stream)
                    output.append(contentsOf: target[0..<(target.count - Int(stream.avail_out))])
                }
            } while status == Z_OK && output.count <= limit && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        return (output, status)
    }
}
