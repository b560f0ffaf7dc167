import CPNG
import Foundation

/// A PNG that cannot be read or made: one line naming the file.
public struct PNGError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var problem: String
    public var description: String { "\(file): \(problem)" }
}

/// PNG files through libpng's simplified API, which reports errors instead of `longjmp`-ing through Swift frames.
/// That API has no text chunks, so the generation parameters (`tEXt`, as A1111 writes them under `parameters`)
/// are spliced into and read out of the chunk stream here.
public enum PNGFile {
    /// The PNG bytes of `image`, with `text` as `tEXt` chunks in the given order.
    public static func encode(_ image: RGBImage, text: [(key: String, value: String)] = []) throws -> Data {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = UInt32(PNG_FORMAT_RGB)
        var size = 0
        let stride = Int32(image.width * 3)
        // First call measures, second writes.
        guard image.pixels.withUnsafeBytes({ png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, stride, nil) }) != 0 else {
            throw PNGError(file: "(image)", problem: message(png))
        }
        var bytes = [UInt8](repeating: 0, count: size)
        let written = bytes.withUnsafeMutableBytes { out in
            image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, out.baseAddress, &size, 0, $0.baseAddress, stride, nil) }
        }
        guard written != 0 else { throw PNGError(file: "(image)", problem: message(png)) }
        png_image_free(&png)
        let chunks = try text.map { try textChunk(key: $0.key, value: $0.value) }
        // The signature (8 bytes) and IHDR (25 bytes) come first; text chunks may follow IHDR directly.
        let headerEnd = 8 + 25
        return Data(bytes[..<headerEnd]) + chunks.reduce(Data(), +) + Data(bytes[headerEnd..<size])
    }

    /// Writes `image` (with `text` chunks) to `url` atomically.
    public static func write(_ image: RGBImage, text: [(key: String, value: String)] = [], to url: URL) throws {
        try AtomicFile.write(try encode(image, text: text), to: url.path)
    }

    /// Reads the image and text chunks of the PNG at `url`.
    public static func read(from url: URL) throws -> (image: RGBImage, text: [(key: String, value: String)]) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw PNGError(file: url.path, problem: "cannot be read")
        }
        return (try decode(data, file: url.path), try textChunks(of: data, file: url.path))
    }

    /// Decodes any PNG (grey, palette, alpha, 16-bit) to 8-bit RGB; alpha is composited on black.
    public static func decode(_ data: Data, file: String = "(memory)") throws -> RGBImage {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        let began = data.withUnsafeBytes { png_image_begin_read_from_memory(&png, $0.baseAddress, data.count) }
        guard began != 0 else { throw PNGError(file: file, problem: "not a readable PNG (\(message(png)))") }
        defer { png_image_free(&png) }
        let width = Int(png.width), height = Int(png.height)
        guard width > 0, height > 0, width * height <= 1 << 28 else {
            throw PNGError(file: file, problem: "image size \(width)×\(height) is out of range")
        }
        png.format = UInt32(PNG_FORMAT_RGB)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        var black = png_color(red: 0, green: 0, blue: 0)
        let finished = pixels.withUnsafeMutableBytes { png_image_finish_read(&png, &black, $0.baseAddress, Int32(width * 3), nil) }
        guard finished != 0 else { throw PNGError(file: file, problem: "damaged PNG data (\(message(png)))") }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The `tEXt` chunks of a PNG, in file order.
    public static func textChunks(of data: Data, file: String = "(memory)") throws -> [(key: String, value: String)] {
        let bytes = [UInt8](data)
        guard bytes.count >= 8, bytes[0..<8].elementsEqual(signature) else {
            throw PNGError(file: file, problem: "not a PNG (bad signature)")
        }
        var chunks: [(key: String, value: String)] = []
        var offset = 8
        while offset + 12 <= bytes.count {
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
            let start = offset + 8
            guard length <= bytes.count - start - 4 else {
                throw PNGError(file: file, problem: "chunk '\(type)' at byte \(offset) runs past the end of the file")
            }
            if type == "tEXt", let zero = bytes[start..<start + length].firstIndex(of: 0) {
                let key = String(decoding: bytes[start..<zero], as: UTF8.self)
                // tEXt is Latin-1 by the standard; UTF-8 in practice (A1111) — decode as UTF-8, fall back to Latin-1.
                let raw = bytes[(zero + 1)..<(start + length)]
                let value = String(bytes: raw, encoding: .utf8) ?? String(bytes: raw, encoding: .isoLatin1) ?? ""
                chunks.append((key, value))
            }
            if type == "IEND" { break }
            offset = start + length + 4
        }
        return chunks
    }

    private static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    private static func textChunk(key: String, value: String) throws -> Data {
        let keyBytes = Array(key.utf8)
        guard (1...79).contains(keyBytes.count), !keyBytes.contains(0) else {
            throw PNGError(file: "(image)", problem: "text key '\(key)' must be 1–79 bytes without NUL")
        }
        let body = Array("tEXt".utf8) + keyBytes + [0] + Array(value.utf8).filter { $0 != 0 }
        let length = UInt32(body.count - 4)
        var chunk = Data([UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)])
        chunk.append(contentsOf: body)
        let crc = crc32(body)
        chunk.append(contentsOf: [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)])
        return chunk
    }

    /// The CRC-32 (ISO-HDLC) every PNG chunk ends with, over its type and data.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    private static func message(_ image: png_image) -> String {
        var copy = image.message
        return withUnsafeBytes(of: &copy) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
