import Dispatch

/// The engine's parallel loops: a few coarse chunks over `ComputeEnvironment.threadCount` threads.
/// Callers never call BLAS inside `body` (OpenBLAS has threads of its own; nesting them oversubscribes).
enum Parallel {
    /// Splits `0..<count` into at most one chunk per thread, each at least `minimumChunk` long, and runs `body`
    /// on the chunks concurrently (or inline when one chunk suffices). Chunks are disjoint; `body` must only
    /// write what belongs to its own chunk.
    static func forEachChunk(count: Int, minimumChunk: Int, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = Swift.min(ComputeEnvironment.threadCount, count / Swift.max(minimumChunk, 1))
        guard chunks > 1 else { return body(0..<count) }
        // concurrentPerform wants a @Sendable closure, but our bodies capture raw pointers into buffers they
        // write disjointly, and concurrentPerform returns only after every chunk has finished; so the
        // non-escaping body is passed through an unchecked box rather than made Sendable.
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                shared.value(count * chunk / chunks ..< count * (chunk + 1) / chunks)
            }
        }
    }

    /// Work below this many elements is not worth waking a second thread for.
    static let elementGrain = 1 << 15
}

/// Carries a value into a @Sendable closure when the caller guarantees the concurrent uses are disjoint.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
