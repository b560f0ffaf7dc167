// swift-tools-version:6.0
// spm-workbench: Concept Semi-Permeable Membranes for Stable Diffusion, on the CPU, in a terminal.
import PackageDescription

let package = Package(
    name: "spm-workbench",
    products: [
        .executable(name: "spm-workbench", targets: ["Workbench"]),
        .executable(name: "spm-bench", targets: ["Benchmarks"]),
        .library(name: "Diffusion", targets: ["Diffusion"]),
        .library(name: "Membrane", targets: ["Membrane"]),
        .library(name: "TUI", targets: ["TUI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // System libraries: each a module map over a small shim header, found through pkg-config.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CNcursesw", pkgConfig: "ncursesw", providers: [.apt(["libncursesw5-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CChafa", pkgConfig: "chafa", providers: [.apt(["libchafa-dev", "libglib2.0-dev"])]),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // oneDNN has no pkg-config file: its module map links `dnnl` and its OpenMP runtime `gomp` by name.
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),

        // The engine's exponential-bound row kernels in C, compiled for several instruction sets at once.
        .target(name: "CKernels"),
        // The CPU diffusion engine: tensors, weights, models, schedulers. No UI, no SPM knowledge.
        .target(name: "Diffusion", dependencies: ["CBLAS", "CDNNL", "CKernels", "CPNG", "CYAML", "CZlib"],
                resources: [.copy("Resources")]),
        // The SPM method on top of the engine: adapters, files, training, transport, merging, evaluation.
        .target(name: "Membrane", dependencies: ["Diffusion", "CCrypto"]),
        // The ncurses workbench: screens and widgets; it draws what the core sends and never computes.
        .target(name: "TUI", dependencies: ["Membrane", "CNcursesw", "CChafa"]),
        // `spm-workbench`: headless commands and the TUI's entry point.
        .executableTarget(name: "Workbench", dependencies: [
            "Diffusion", "Membrane", "TUI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // `spm-bench`: the measurements behind BENCHMARKS.md (driven by scripts in benchmarks/).
        .executableTarget(name: "Benchmarks", dependencies: [
            "Diffusion", "Membrane",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // What several test suites share (the seeded generator); never linked into the product.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "DiffusionTests", dependencies: ["Diffusion", "CKernels", "TestSupport"], exclude: ["Golden"]),
        .testTarget(name: "MembraneTests", dependencies: ["Membrane", "TestSupport"]),
        // Runs the built `spm-workbench` binary as a subprocess (it sits next to the test bundle).
        .testTarget(name: "WorkbenchTests", dependencies: ["Diffusion", "Membrane", "TestSupport"]),
        // Widgets and app logic in memory, plus the real binary driven in tmux.
        .testTarget(name: "TUITests", dependencies: ["TUI", "Diffusion", "Membrane", "TestSupport"]),
    ]
)
