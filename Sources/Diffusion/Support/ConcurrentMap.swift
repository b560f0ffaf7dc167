import Foundation
import Synchronization

extension Array where Element: Sendable {
    /// `map` with the elements transformed concurrently (`DispatchQueue.concurrentPerform`: one thread per core),
    /// results in order. For whole-file work on membranes, where most of the time is the kernel handing out fresh
    /// pages for new arrays, which runs on every core; and, through `ComputeEnvironment.sharingThreads`, for
    /// independent pieces of model work. Throws the error of the first failing element in order.
    public func concurrentMap<Result: Sendable>(_ transform: @Sendable (Element) throws -> Result) throws -> [Result] {
        let results = Mutex([Swift.Result<Result, any Error>?](repeating: nil, count: count))
        DispatchQueue.concurrentPerform(iterations: count) { index in
            let result = Swift.Result { try transform(self[index]) }
            results.withLock { $0[index] = result }
        }
        return try results.withLock { $0 }.map { try $0!.get() }
    }
}
