import ArgumentParser
import Diffusion

ComputeEnvironment.ensureFastBLASKernels()
ComputeEnvironment.keepFreedMemoryForReuse()
BenchmarkCommand.main()
