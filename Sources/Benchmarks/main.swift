import ArgumentParser
import Diffusion

ComputeEnvironment.prepareRuntimeLibraries()
BenchmarkCommand.main()
