import ArgumentParser
import Diffusion

ComputeEnvironment.ensureFastBLASKernels()
BenchmarkCommand.main()
