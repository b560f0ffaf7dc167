import Testing
@testable import Diffusion

@Suite struct ComputeEnvironmentTests {
    @Test func threadCountIsSharedWithOpenBLAS() {
        let before = ComputeEnvironment.threadCount
        ComputeEnvironment.setThreadCount(1)
        #expect(ComputeEnvironment.threadCount == 1)
        ComputeEnvironment.setThreadCount(0)
        #expect(ComputeEnvironment.threadCount == 1, "a count below one is clamped")
        ComputeEnvironment.setThreadCount(before)
    }

    @Test func forcesAVX512KernelsOnlyWhenOpenBLASFellBackToGenericOnes() {
        let avx512: Set<String> = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl"]
        #expect(ComputeEnvironment.preferredCoreType(current: "Prescott", cpuFlags: avx512) == "SkylakeX")
        #expect(ComputeEnvironment.preferredCoreType(current: "Prescott", cpuFlags: ["avx2", "fma"]) == "Haswell")
        #expect(ComputeEnvironment.preferredCoreType(current: "Prescott", cpuFlags: ["sse2"]) == nil)
        #expect(ComputeEnvironment.preferredCoreType(current: "SkylakeX", cpuFlags: avx512) == nil)
        #expect(ComputeEnvironment.preferredCoreType(current: "Haswell", cpuFlags: avx512) == nil)
    }

    /// What the re-exec adds: the kernel family only when OpenBLAS fell back, the OpenMP wait policy only when
    /// the user set neither of its variables.
    @Test func runtimeSettingsAddOnlyWhatIsMissing() {
        let avx512: Set<String> = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl"]
        #expect(ComputeEnvironment.runtimeSettings(environment: [:], blasCore: "Prescott", cpuFlags: avx512)
                == ["OPENBLAS_CORETYPE": "SkylakeX", "OMP_WAIT_POLICY": "PASSIVE"])
        #expect(ComputeEnvironment.runtimeSettings(environment: [:], blasCore: "Cooperlake", cpuFlags: avx512)
                == ["OMP_WAIT_POLICY": "PASSIVE"])
        #expect(ComputeEnvironment.runtimeSettings(environment: ["GOMP_SPINCOUNT": "1000"], blasCore: "Cooperlake",
                                                   cpuFlags: avx512).isEmpty)
        #expect(ComputeEnvironment.runtimeSettings(environment: ["OMP_WAIT_POLICY": "ACTIVE", "OPENBLAS_CORETYPE": "Haswell"],
                                                   blasCore: "Prescott", cpuFlags: avx512).isEmpty)
    }

    @Test func readsCPUFlagsFromCpuinfo() {
        let text = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\nbugs\t\t: none\n"
        #expect(CPUFlags.parse(cpuinfo: text) == ["fpu", "sse2", "avx2", "avx512f"])
    }
}
