/// What a load did with the stored tensors (ARCHITECTURE.md: every load ends in a report — applied, missing,
/// unused, mis-shaped — never silent). A normal load throws at its first missing or mis-shaped tensor, so its
/// report has none; a checking load (`PipelineModels.checkLoad`) lists them all.
public struct LoadReport: Sendable, Equatable {
    /// One model component (`unet`, `vae`, `text_encoder`, `text_encoder_2`).
    public struct Component: Sendable, Equatable {
        public var name: String
        /// The files read (paths): one file, a component's shards, or the single-file checkpoint.
        public var files: [String]
        /// The precision variant read (`fp16` …), nil for full precision or a single file.
        public var variant: String?
        /// Parameters the model took from the files: tensors and elements.
        public var appliedTensors: Int
        public var appliedParameters: Int
        public var missing: [LoadError]
        /// Wrong shape or not a floating-point tensor.
        public var misShaped: [LoadError]
        /// Stored tensors of this component that no parameter asked for.
        public var unused: [String]
    }

    public var components: [Component]
    /// Single files: tensors skipped on purpose (EMA copies, the LDM schedule buffers, CLIP's logit scale …).
    public var ignoredTensors: Int
    /// Single files: tensors the key map places in no component.
    public var unmappedTensors: [String]

    public init(components: [Component], ignoredTensors: Int = 0, unmappedTensors: [String] = []) {
        self.components = components
        self.ignoredTensors = ignoredTensors
        self.unmappedTensors = unmappedTensors
    }

    /// Whether every parameter of every component was found with the right shape.
    public var isComplete: Bool { components.allSatisfy { $0.missing.isEmpty && $0.misShaped.isEmpty } }

    /// Stored tensors nothing read, of any component or of none: a wrong family or a damaged file shows up here.
    public var unusedTensors: [String] { (components.flatMap(\.unused) + unmappedTensors).sorted() }

    /// One line: "applied 686 tensors (1,066,496 parameters); 0 missing, 0 mis-shaped, 0 unused".
    public var summary: String {
        let applied = components.reduce(0) { $0 + $1.appliedTensors }
        let parameters = components.reduce(0) { $0 + $1.appliedParameters }
        let missing = components.reduce(0) { $0 + $1.missing.count }
        let misShaped = components.reduce(0) { $0 + $1.misShaped.count }
        // 1066496 → "1,066,496", whatever the locale.
        let digits = Array(String(parameters))
        let grouped = String(digits.enumerated().flatMap { index, digit in
            index > 0 && (digits.count - index) % 3 == 0 ? [",", digit] : [digit]
        })
        return "applied \(applied) tensors (\(grouped) parameters); \(missing) missing, \(misShaped) mis-shaped, "
            + "\(unusedTensors.count) unused" + (ignoredTensors > 0 ? ", \(ignoredTensors) ignored" : "")
    }
}
