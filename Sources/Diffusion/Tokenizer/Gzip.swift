import CZlib
import Foundation

/// Reads gzip data with zlib (the bundled CLIP vocabulary ships gzip-compressed, as OpenAI distributes it).
enum Gzip {
    static func decompress(_ compressed: Data, name: String) throws -> [UInt8] {
        var stream = z_stream()
        guard czlib_inflate_init_gzip(&stream) == Z_OK else {
            throw TokenizerError.unreadable(file: name, reason: "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8]()
        output.reserveCapacity(compressed.count * 3)
        var chunk = [UInt8](repeating: 0, count: 1 << 18)
        var status = Z_OK
        try compressed.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            while status != Z_STREAM_END {
                status = chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                guard status == Z_OK || status == Z_STREAM_END else {
                    throw TokenizerError.unreadable(file: name, reason: "not valid gzip data (zlib status \(status))")
                }
                output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                if status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0 {
                    throw TokenizerError.unreadable(file: name, reason: "gzip data ends early")
                }
            }
        }
        return output
    }
}
