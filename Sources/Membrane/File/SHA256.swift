import CCrypto

/// SHA-256, streaming. kohya's `sshs_model_hash` and ModelSpec's `hash_sha256` digest a LoRA's tensor data, which
/// can be large (1 GB for 100 merged SDXL membranes), so bytes are fed in pieces as they are produced. The digest
/// is OpenSSL's: it uses the CPU's SHA instructions, five times faster here than a portable implementation, which
/// had made hashing the slowest part of writing a merged file.
///
/// Not copyable: it owns an OpenSSL digest context, freed when the hasher goes away.
public struct SHA256: ~Copyable {
    private let context: OpaquePointer

    public init() {
        guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
            fatalError("OpenSSL could not start a SHA-256 digest (out of memory)")
        }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Feeds more message bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress, !bytes.isEmpty else { return }
        // Cannot fail for a started SHA-256 context: the call only hashes memory.
        _ = EVP_DigestUpdate(context, start, bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The 32-byte digest (the hasher is consumed).
    public consuming func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = digest.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        return digest
    }

    /// Lower-case hexadecimal digest of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        var hasher = SHA256()
        hasher.update(bytes)
        return hex(digest: hasher.finalize())
    }

    public static func hex(digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(digest.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }
}
