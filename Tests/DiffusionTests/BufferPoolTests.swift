import Testing
@testable import Diffusion

@Suite struct BufferPoolTests {
    @Test func freedLargeBuffersAreReusedBySize() {
        let pool = BufferPool(limitBytes: 8 << 20)
        let floats = (2 << 20) / 4  // 2 MiB
        let first = pool.allocate(floats: floats)
        pool.deallocate(first, floats: floats)
        let again = pool.allocate(floats: floats - 100)  // same 4 KiB-rounded size
        #expect(again == first)
        let other = pool.allocate(floats: floats * 2)  // another size gets another buffer
        #expect(other != first)
        pool.deallocate(again, floats: floats - 100)
        pool.deallocate(other, floats: floats * 2)
    }

    @Test func cacheStaysWithinItsLimit() {
        let pool = BufferPool(limitBytes: 4 << 20)
        let floats = (3 << 20) / 4  // 3 MiB: two of them exceed the 4 MiB limit
        let (a, b) = (pool.allocate(floats: floats), pool.allocate(floats: floats))
        pool.deallocate(a, floats: floats)
        pool.deallocate(b, floats: floats)  // evicts a, the oldest
        let reused = pool.allocate(floats: floats)
        #expect(reused == b)
        let fresh = pool.allocate(floats: floats)
        #expect(fresh != b)
        pool.deallocate(reused, floats: floats)
        pool.deallocate(fresh, floats: floats)
        // Small buffers bypass the pool entirely.
        let small = pool.allocate(floats: 16)
        small[15] = 1
        pool.deallocate(small, floats: 16)
    }
}
