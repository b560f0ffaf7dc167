import Foundation

/// Runs `work` on a thread of its own and awaits its result without occupying one of Swift concurrency's
/// cooperative threads. There are only as many of those as cores: on a 2-core machine, a minute of engine work
/// done inside a task would stall every other task for that minute (the workbench's UI messages, a test suite's
/// waits). `Failure` is `Never` for work that cannot throw, so such calls need no `try`.
public func onOwnThread<Value: Sendable, Failure: Error>(
    _ work: @escaping @Sendable () throws(Failure) -> Value
) async throws(Failure) -> Value {
    let result: Result<Value, Failure> = await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            do throws(Failure) {
                continuation.resume(returning: .success(try work()))
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
    }
    return try result.get()
}
