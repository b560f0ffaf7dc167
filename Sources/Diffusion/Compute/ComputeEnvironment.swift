import CBLAS
import Foundation

/// Process-wide compute settings. OpenBLAS owns the thread count; we read it back from there so the
/// engine's own parallel loops and BLAS always agree, and no second copy of the setting exists.
public enum ComputeEnvironment {
    /// The OpenBLAS kernel family in use ("SkylakeX", "Haswell", "Prescott", …).
    public static var blasCoreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Threads used by BLAS and by the engine's parallel loops.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Sets the one thread count (clamped to at least 1).
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// `parts` transformed side by side, the threads shared out among them (each part's ops then run on
    /// `threadCount / parts.count` threads), results in order; one after another, with every thread, when there
    /// are fewer threads than parts. For models whose layers are too small for two threads to share one op (the
    /// tiny models' 32–64 channels: a second thread costs more in waking and waiting than it computes), where
    /// independent pieces of work, one per thread, use the cores instead. The thread count is process-wide:
    /// while the parts run, all other work in the process sees the shared-out count too.
    public static func sharingThreads<Part: Sendable, Result: Sendable>(
        among parts: [Part], _ transform: @Sendable (Part) throws -> Result) throws -> [Result] {
        let threads = threadCount
        guard parts.count > 1, threads >= parts.count else { return try parts.map(transform) }
        setThreadCount(threads / parts.count)
        defer { setThreadCount(threads) }
        return try parts.concurrentMap(transform)
    }

    /// Settings the runtime libraries read only when they load, so they can be changed only by re-executing:
    ///
    /// - Debian's OpenBLAS 0.3.21 does not recognise recent Xeons and falls back to its Prescott kernels, 5–6×
    ///   slower than the AVX-512 ones; `OPENBLAS_CORETYPE` chooses the kernel family.
    /// - libgomp (oneDNN's OpenMP) keeps its threads spinning for a while after every oneDNN call, on cores
    ///   the engine's own parallel loops (Dispatch) and OpenBLAS's threads need next; `OMP_WAIT_POLICY=PASSIVE`
    ///   lets them sleep at once (BENCHMARKS.md, "bf16"). A user's own `OMP_WAIT_POLICY` or `GOMP_SPINCOUNT`
    ///   is kept.
    ///
    /// Call this first thing in `main`: it sets what is missing and re-executes the program once. Returns only
    /// when nothing was missing (or the re-exec failed, and the program carries on as it is).
    public static func prepareRuntimeLibraries(arguments: [String] = CommandLine.arguments) {
        let additions = runtimeSettings(environment: ProcessInfo.processInfo.environment, blasCore: blasCoreName,
                                        cpuFlags: CPUFlags.current)
        guard !additions.isEmpty else { return }
        for (name, value) in additions { setenv(name, value, 1) }
        var cArguments = arguments.map { strdup($0) }
        cArguments.append(nil)
        execv("/proc/self/exe", cArguments)
        cArguments.forEach { free($0) }
    }

    /// The variables `prepareRuntimeLibraries` would add to `environment`.
    static func runtimeSettings(environment: [String: String], blasCore: String,
                                cpuFlags: Set<String>) -> [String: String] {
        var additions: [String: String] = [:]
        if environment["OPENBLAS_CORETYPE"] == nil,
           let better = preferredCoreType(current: blasCore, cpuFlags: cpuFlags) {
            additions["OPENBLAS_CORETYPE"] = better
        }
        if environment["OMP_WAIT_POLICY"] == nil && environment["GOMP_SPINCOUNT"] == nil {
            additions["OMP_WAIT_POLICY"] = "PASSIVE"
        }
        return additions
    }

    /// The core type to force, or nil when OpenBLAS already runs kernels that suit this CPU.
    static func preferredCoreType(current: String, cpuFlags: Set<String>) -> String? {
        let generic = ["prescott", "unknown", "core2", "nehalem", "katmai", "coppermine", "northwood", "banias"]
        guard generic.contains(current.lowercased()) else { return nil }
        if cpuFlags.contains("avx512f") && cpuFlags.contains("avx512bw") && cpuFlags.contains("avx512vl") {
            return "SkylakeX"
        }
        if cpuFlags.contains("avx2") && cpuFlags.contains("fma") { return "Haswell" }
        return nil
    }
}

/// The CPU's feature flags as Linux reports them in /proc/cpuinfo.
public enum CPUFlags {
    public static var current: Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return [] }
        return parse(cpuinfo: text)
    }

    static func parse(cpuinfo: String) -> Set<String> {
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return []
    }
}
