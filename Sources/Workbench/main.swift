import ArgumentParser
import Diffusion

ComputeEnvironment.ensureFastBLASKernels()
SPMWorkbench.main()
