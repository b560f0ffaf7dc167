import Diffusion
import Foundation
import Membrane

/// The result of `inspect`, built once and rendered either as text for people or as JSON for scripts.
struct InspectReport {
    let json: JSONValue
    let text: String

    init(path: String, configFolder: URL? = nil, variant: String? = nil) throws {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw WeightsError.cannotRead(file: path, reason: "no such file or folder")
        }
        var report: InspectReport
        let isModel: Bool
        if isDirectory.boolValue {
            let folder = try DiffusersFolder(url: url)
            report = InspectReport(folder: folder)
            isModel = folder.components.contains { $0.name == "unet" }
        } else {
            let file = try WeightFile.open(url)
            report = InspectReport(file: file, membrane: try MembraneFileSummary.detect(in: file))
            let keys = Set(file.tensorNames)
            isModel = CheckpointArchitecture.detect(singleFileKeys: keys) != nil
                || (configFolder != nil && keys.contains { $0.hasPrefix("model.diffusion_model.") })
        }
        if isModel {
            // A check that cannot run (ambiguous variants, a missing config …) is reported, not fatal: the rest
            // of the report still describes the files.
            let check = Result { try PipelineModels.checkLoad(from: url, configFolder: configFolder, variant: variant) }
            report.append(loadCheck: check)
        } else {
            report = InspectReport(json: .object((report.json.members ?? []) + [JSONMember("load_check", .null)]), text: report.text)
        }
        self = report
    }

    private init(json: JSONValue, text: String) {
        self.json = json
        self.text = text
    }

    // MARK: - The load check

    /// At most this many keys of each kind are listed in text; JSON lists them all.
    private static let listedProblems = 5

    private mutating func append(loadCheck check: Result<LoadReport, Error>) {
        var lines = ["", "load check        " + ((try? check.get())?.summary ?? "not run")]
        let checkJSON: JSONValue
        switch check {
        case .failure(let error):
            lines.append("  error  \(error)")
            checkJSON = .object([JSONMember("error", .string("\(error)"))])
        case .success(let report):
            let width = report.components.map(\.name.count).max() ?? 0
            for component in report.components {
                let files = component.files.map { URL(fileURLWithPath: $0).lastPathComponent }
                let shown = files.count == 1 ? files[0] : "\(files.count) shards (\(files[0]) …)"
                lines.append("  " + component.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                    + shown + (component.variant.map { " [\($0)]" } ?? "")
                    + ": \(component.appliedTensors) tensors, \(grouped(component.appliedParameters)) parameters applied")
            }
            func list(_ label: String, _ items: [String]) {
                guard !items.isEmpty else { return }
                lines.append("  \(label) \(items.count):")
                lines += items.prefix(Self.listedProblems).map { "    " + $0 }
                if items.count > Self.listedProblems { lines.append("    … and \(items.count - Self.listedProblems) more (--json lists all)") }
            }
            list("missing", report.components.flatMap(\.missing).map(\.description))
            list("mis-shaped", report.components.flatMap(\.misShaped).map(\.description))
            list("unused", report.unusedTensors)
            checkJSON = .object([
                JSONMember("complete", .bool(report.isComplete)),
                JSONMember("summary", .string(report.summary)),
                JSONMember("components", .object(report.components.map { component in
                    JSONMember(component.name, .object([
                        JSONMember("files", .array(component.files.map { .string($0) })),
                        JSONMember("variant", component.variant.map { .string($0) } ?? .null),
                        JSONMember("applied_tensors", .integer(component.appliedTensors)),
                        JSONMember("applied_parameters", .integer(component.appliedParameters)),
                        JSONMember("missing", .array(component.missing.map { .string($0.description) })),
                        JSONMember("mis_shaped", .array(component.misShaped.map { .string($0.description) })),
                        JSONMember("unused", .array(component.unused.map { .string($0) })),
                    ]))
                })),
                JSONMember("ignored_tensors", .integer(report.ignoredTensors)),
                JSONMember("unmapped_tensors", .array(report.unmappedTensors.map { .string($0) })),
            ])
        }
        var members = json.members ?? []
        members.append(JSONMember("load_check", checkJSON))
        self = InspectReport(json: .object(members), text: text + "\n" + lines.joined(separator: "\n"))
    }

    // MARK: - A safetensors file

    private init(file: SafetensorsFile, membrane: MembraneFileSummary?) {
        var dtypeCounts: [String: Int] = [:]
        for tensor in file.tensors { dtypeCounts[tensor.dtype.rawValue, default: 0] += 1 }
        let sortedMetadata = file.metadata.sorted { $0.key < $1.key }

        json = .object([
            JSONMember("kind", .string("safetensors")),
            JSONMember("path", .string(file.path)),
            JSONMember("tensor_count", .integer(file.tensors.count)),
            JSONMember("parameter_count", .integer(file.parameterCount)),
            JSONMember("dtypes", .object(dtypeCounts.map { JSONMember($0.key, .integer($0.value)) })),
            JSONMember("metadata", .object(sortedMetadata.map { JSONMember($0.key, .string($0.value)) })),
            JSONMember("membrane", membrane.map(InspectReport.json(membrane:)) ?? .null),
        ])

        var lines = [
            "safetensors  \(file.path)",
            "tensors      \(file.tensors.count)",
            "parameters   \(grouped(file.parameterCount))",
            "dtypes       " + InspectReport.dtypeList(dtypeCounts),
            "metadata     \(sortedMetadata.count) \(sortedMetadata.count == 1 ? "entry" : "entries")",
        ]
        let keyWidth = sortedMetadata.map(\.key.count).max() ?? 0
        for (key, value) in sortedMetadata {
            lines.append("  " + key.padding(toLength: keyWidth, withPad: " ", startingAt: 0) + "  " + InspectReport.shortened(value))
        }
        if let membrane {
            lines.append("membrane / LoRA")
            lines.append("  layers       \(membrane.layerCount) (UNet \(membrane.unetLayerCount), text encoders \(membrane.textEncoderLayerCount))")
            lines.append("  rank         " + membrane.ranks.map(String.init).joined(separator: ", "))
            lines.append("  alpha        " + membrane.alphas.map(InspectReport.number).joined(separator: ", "))
            lines.append("  parameters   \(grouped(membrane.parameterCount))")
            lines.append("  naming       " + InspectReport.describe(membrane.naming))
            lines.append("  family       " + (membrane.family?.rawValue ?? "unknown") + " (\(membrane.familyEvidence))")
            let concepts = membrane.concepts.isEmpty ? "none recorded" : membrane.concepts.joined(separator: ", ")
            lines.append("  concepts     " + concepts + (membrane.conceptsSource.map { " (from \($0))" } ?? ""))
            if !membrane.incompleteLayers.isEmpty {
                lines.append("  incomplete   \(membrane.incompleteLayers.count) layers lack a down or up matrix, e.g. \(membrane.incompleteLayers[0])")
            }
            if !membrane.otherTensorNames.isEmpty {
                lines.append("  other keys   \(membrane.otherTensorNames.count) tensors are not LoRA tensors, e.g. \(membrane.otherTensorNames[0])")
            }
        }
        text = lines.joined(separator: "\n")
    }

    private static func json(membrane: MembraneFileSummary) -> JSONValue {
        .object([
            JSONMember("layer_count", .integer(membrane.layerCount)),
            JSONMember("unet_layer_count", .integer(membrane.unetLayerCount)),
            JSONMember("text_encoder_layer_count", .integer(membrane.textEncoderLayerCount)),
            JSONMember("ranks", .array(membrane.ranks.map { .integer($0) })),
            JSONMember("alphas", .array(membrane.alphas.map { .double(Double($0)) })),
            JSONMember("parameter_count", .integer(membrane.parameterCount)),
            JSONMember("naming", .string(membrane.naming.rawValue)),
            JSONMember("family", membrane.family.map { .string($0.rawValue) } ?? .null),
            JSONMember("family_evidence", .string(membrane.familyEvidence)),
            JSONMember("concepts", .array(membrane.concepts.map { .string($0) })),
            JSONMember("concepts_source", membrane.conceptsSource.map { .string($0) } ?? .null),
            JSONMember("incomplete_layers", .array(membrane.incompleteLayers.map { .string($0) })),
            JSONMember("other_tensors", .array(membrane.otherTensorNames.map { .string($0) })),
        ])
    }

    // MARK: - A diffusers folder

    private init(folder: DiffusersFolder) {
        var componentsJSON: [JSONMember] = []
        var lines = [
            "diffusers folder  \(folder.path)",
            "pipeline          \(folder.pipelineClass ?? "unknown")" + (folder.diffusersVersion.map { " (diffusers \($0))" } ?? ""),
        ]
        if !folder.options.isEmpty {
            lines.append("options           " + folder.options.map { "\($0.key)=\($0.value.serialized())" }.joined(separator: ", "))
        }
        lines.append("components        \(folder.components.count)")
        for component in folder.components {
            let weightsJSON: [JSONValue] = component.weightFiles.map { weights in
                .object([
                    JSONMember("file", .string(weights.fileName)),
                    JSONMember("variant", weights.variant.map { .string($0) } ?? .null),
                    JSONMember("tensor_count", .integer(weights.tensorCount)),
                    JSONMember("parameter_count", .integer(weights.parameterCount)),
                    JSONMember("dtypes", .object(weights.dtypeCounts.map { JSONMember($0.key.rawValue, .integer($0.value)) })),
                ])
            }
            componentsJSON.append(JSONMember(component.name, .object([
                JSONMember("library", component.library.map { .string($0) } ?? .null),
                JSONMember("class", component.className.map { .string($0) } ?? .null),
                JSONMember("config_file", component.configFileName.map { .string($0) } ?? .null),
                JSONMember("config", component.config ?? .null),
                JSONMember("key_figures", .object(component.keyFigures)),
                JSONMember("weights", .array(weightsJSON)),
                JSONMember("pickle_files", .array(component.pickleFiles.map { .string($0) })),
            ])))

            lines.append("")
            lines.append("\(component.name)  \(component.className ?? "?")" + (component.library.map { " (\($0))" } ?? ""))
            if let configFileName = component.configFileName {
                let figures = component.keyFigures.map { "\($0.key)=\($0.value.serialized())" }
                lines.append("  config   \(configFileName)" + (figures.isEmpty ? "" : ": " + figures.joined(separator: ", ")))
            }
            for weights in component.weightFiles {
                let dtypes = InspectReport.dtypeList(Dictionary(uniqueKeysWithValues: weights.dtypeCounts.map { ($0.key.rawValue, $0.value) }))
                lines.append("  weights  \(weights.fileName)" + (weights.variant.map { " [\($0)]" } ?? "")
                    + ": \(weights.tensorCount) tensors, \(grouped(weights.parameterCount)) parameters, \(dtypes)")
            }
            for pickle in component.pickleFiles {
                lines.append("  pickle   \(pickle) (not read: convert to safetensors)")
            }
        }
        json = .object([
            JSONMember("kind", .string("diffusers-folder")),
            JSONMember("path", .string(folder.path)),
            JSONMember("pipeline", folder.pipelineClass.map { .string($0) } ?? .null),
            JSONMember("diffusers_version", folder.diffusersVersion.map { .string($0) } ?? .null),
            JSONMember("options", .object(folder.options)),
            JSONMember("components", .object(componentsJSON)),
        ])
        text = lines.joined(separator: "\n")
    }

    // MARK: - Formatting

    private static func dtypeList(_ counts: [String: Int]) -> String {
        counts.isEmpty ? "none" : counts.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
    }

    private static func describe(_ naming: MembraneFileSummary.Naming) -> String {
        switch naming {
        case .diffusers: return "diffusers module paths"
        case .sgm: return "SGM paths (input_blocks / middle_block / output_blocks)"
        case .mixed: return "mixed diffusers and SGM paths"
        case .textEncoderOnly: return "text encoder only"
        }
    }

    private static func number(_ value: Float) -> String {
        value == value.rounded() && abs(value) < 1e9 ? String(Int(value)) : String(value)
    }

    /// Metadata values can be long JSON blobs (kohya's tag frequencies); text output shows their start.
    private static func shortened(_ value: String) -> String {
        let oneLine = value.replacingOccurrences(of: "\n", with: " ")
        guard oneLine.count > 100 else { return oneLine }
        return String(oneLine.prefix(100)) + "… (\(value.count) characters)"
    }
}

/// 1234567 → "1,234,567".
private func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
        result.append(digit)
    }
    return (value < 0 ? "-" : "") + result
}
