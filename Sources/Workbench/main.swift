import ArgumentParser
import Diffusion

ComputeEnvironment.ensureFastBLASKernels()
ComputeEnvironment.keepFreedMemoryForReuse()
SPMWorkbench.main()
