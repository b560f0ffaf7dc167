import ArgumentParser
import Diffusion

ComputeEnvironment.prepareRuntimeLibraries()
SPMWorkbench.main()
