import Synchronization

/// Large element buffers recycled between tensors (and im2col scratch), so they are not mapped fresh each time.
///
/// Why: a UNet forward makes thousands of activations of 1–60 MiB, each freed a few ops later. glibc returns
/// blocks above its mmap threshold (at most 32 MiB) to the kernel on free, and trims a heap whose free top
/// grows past its trim threshold, so a new activation of that size arrives as fresh pages that the kernel
/// zeroes and faults in one by one — seconds of system time per SD1.5 forward. The same sizes recur in every
/// block and every step, so freed buffers are kept by exact size and handed out again, most recent first (the
/// one most likely still in cache). Like malloc's own free lists this is process-wide state; it is guarded by a
/// mutex and bounded by `limitBytes`, beyond which the oldest cached buffers are released.
final class BufferPool: Sendable {
    /// Buffers below this size are left to malloc, whose small-block free lists already reuse them.
    static let minimumBytes = 1 << 20
    /// The pool every tensor uses.
    static let shared = BufferPool(limitBytes: 256 << 20)

    private struct Cache {
        /// Cached buffers, oldest first; addresses as bit patterns (plain values can leave the lock).
        var buffers: [(bytes: Int, address: UInt)] = []
        var bytes = 0
    }

    private let cache = Mutex(Cache())
    private let limitBytes: Int

    init(limitBytes: Int) {
        self.limitBytes = limitBytes
    }

    /// A 64-byte aligned buffer for at least `count` floats, uninitialised.
    func allocate(floats count: Int) -> UnsafeMutablePointer<Float> {
        let bytes = Self.roundedBytes(floats: count)
        if bytes >= Self.minimumBytes {
            let reused = cache.withLock { cache -> UInt? in
                guard let index = cache.buffers.lastIndex(where: { $0.bytes == bytes }) else { return nil }
                cache.bytes -= bytes
                return cache.buffers.remove(at: index).address
            }
            if let reused, let address = UnsafeMutablePointer<Float>(bitPattern: reused) { return address }
        }
        return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64).bindMemory(to: Float.self, capacity: bytes / 4)
    }

    /// Gives back a buffer from `allocate(floats:)` with the same `count`.
    func deallocate(_ address: UnsafeMutablePointer<Float>, floats count: Int) {
        let bytes = Self.roundedBytes(floats: count)
        guard bytes >= Self.minimumBytes && bytes <= limitBytes else { return UnsafeMutableRawPointer(address).deallocate() }
        let released = cache.withLock { cache -> [UInt] in
            cache.buffers.append((bytes, UInt(bitPattern: address)))
            cache.bytes += bytes
            var released: [UInt] = []
            var evicted = 0
            while cache.bytes > limitBytes {
                cache.bytes -= cache.buffers[evicted].bytes
                released.append(cache.buffers[evicted].address)
                evicted += 1
            }
            cache.buffers.removeFirst(evicted)
            return released
        }
        for address in released { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() }
    }

    /// Calls `body` with a scratch buffer of `count` floats from the pool.
    func withScratch<Result>(floats count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> Result) rethrows -> Result {
        let buffer = allocate(floats: count)
        defer { deallocate(buffer, floats: count) }
        return try body(buffer)
    }

    /// Bytes for `count` floats; pooled sizes are rounded up to whole 4 KiB pages, so that sizes within a page
    /// share a bucket.
    private static func roundedBytes(floats count: Int) -> Int {
        let bytes = Swift.max(count, 1) * MemoryLayout<Float>.stride
        return bytes >= minimumBytes ? (bytes + 4095) & ~4095 : bytes
    }
}
