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

    /// Debian's OpenBLAS 0.3.21 does not recognise recent Xeons and falls back to its Prescott kernels,
    /// 5–6× slower than the AVX-512 ones. The kernel family is chosen once, when the library loads, from
    /// `OPENBLAS_CORETYPE`; so when the choice was poor we set the variable and re-execute ourselves.
    /// Call this first thing in `main`. Returns only when no re-exec was needed (or it failed).
    public static func ensureFastBLASKernels(arguments: [String] = CommandLine.arguments) {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil else { return }
        guard let better = preferredCoreType(current: blasCoreName, cpuFlags: CPUFlags.current) else { return }
        setenv("OPENBLAS_CORETYPE", better, 1)
        var cArguments = arguments.map { strdup($0) }
        cArguments.append(nil)
        execv("/proc/self/exe", cArguments)
        // execv returns only on failure: carry on with the slow kernels rather than stop.
        cArguments.forEach { free($0) }
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
