import CKernels
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
        // The chunks run on the pool of the library that runs the heavy products, so that two pools do not
        // take turns spinning on each other's cores (two cores here; BENCHMARKS.md, "bf16"): OpenMP's team
        // (`spm_parallel_chunks`) when oneDNN runs them, whose threads spin between its calls; Dispatch's
        // workers beside OpenBLAS, whose own threads spin between GEMMs while Dispatch's sleep at once.
        withoutActuallyEscaping(body) { body in
            var job = ChunkJob(body: body, count: count, chunks: chunks)
            guard ComputeEnvironment.productsRunOnOneDNN else {
                let shared = UncheckedSendable(job)
                return DispatchQueue.concurrentPerform(iterations: chunks) { shared.value.run(chunk: $0) }
            }
            withUnsafeMutablePointer(to: &job) { pointer in
                spm_parallel_chunks(chunks, { context, chunk in
                    context!.assumingMemoryBound(to: ChunkJob.self).pointee.run(chunk: chunk)
                }, pointer)
            }
        }
    }

    /// Work below this many elements is not worth waking a second thread for.
    static let elementGrain = 1 << 15
}

/// What each thread of a parallel loop needs: the body and how to cut `0..<count` into `chunks`.
private struct ChunkJob {
    let body: (Range<Int>) -> Void
    let count: Int, chunks: Int

    func run(chunk: Int) { body(count * chunk / chunks ..< count * (chunk + 1) / chunks) }
}

/// Carries a value into a @Sendable closure when the caller guarantees the concurrent uses are disjoint
/// (concurrentPerform wants a @Sendable closure, but the bodies capture raw pointers into buffers they write
/// disjointly, and it returns only after every chunk has finished).
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
