/// What can be wrong with a membrane file or a membrane operation. Each description is one line naming the file.
public enum MembraneFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case notAMembrane(file: String)
    case unknownFamily(file: String)
    case needsUNetConfig(file: String, family: ModelFamily)
    case unknownTensor(file: String, tensor: String, reason: String)
    case unpaired(file: String, layer: String, missing: String)
    case misshaped(file: String, tensor: String, shape: [Int], expected: String)
    case nonFinite(file: String, tensor: String)
    case wrongFamily(file: String, declared: ModelFamily, evidence: String, actual: ModelFamily)
    case invalidMetadata(file: String, key: String, problem: String)
    case mixedFamilies(first: String, firstFamily: ModelFamily, other: String, otherFamily: ModelFamily)
    case invalidMerge(problem: String)
    /// A layer that fits none of the bundled UNets: wraps the first problem found.
    indirect case notTheBundledUNet(MembraneFileError, family: ModelFamily)

    public var description: String {
        switch self {
        case .notAMembrane(let file):
            return "\(file): not a membrane: no kohya-style `lora_unet_…lora_down.weight` tensors"
        case .unknownFamily(let file):
            return "\(file): cannot tell the base-model family (no ss_base_model_version, modelspec.architecture or membrane.family, and the layer shapes do not decide)"
        case .needsUNetConfig(let file, let family):
            return "\(file): family \(family.rawValue) has no bundled UNet config: pass the model's unet config (--unet-config)"
        case .unknownTensor(let file, let tensor, let reason):
            return "\(file): unknown tensor \"\(tensor)\": \(reason) (a membrane holds only lora_down/lora_up/alpha of UNet transformer layers)"
        case .unpaired(let file, let layer, let missing):
            return "\(file): layer \"\(layer)\" has no \(missing)"
        case .misshaped(let file, let tensor, let shape, let expected):
            return "\(file): tensor \"\(tensor)\" has shape \(shape), expected \(expected)"
        case .nonFinite(let file, let tensor):
            return "\(file): tensor \"\(tensor)\" holds NaN or infinite values"
        case .wrongFamily(let file, let declared, let evidence, let actual):
            return "\(file): declares family \(declared.rawValue) (\(evidence)) but its layers are those of a \(actual.rawValue) UNet"
        case .invalidMetadata(let file, let key, let problem):
            return "\(file): metadata \"\(key)\": \(problem)"
        case .mixedFamilies(let first, let firstFamily, let other, let otherFamily):
            return "cannot merge \(other) (\(otherFamily.rawValue)) with \(first) (\(firstFamily.rawValue)): membranes of different model families"
        case .invalidMerge(let problem):
            return "merge: \(problem)"
        case .notTheBundledUNet(let problem, let family):
            return "\(problem) — not the bundled \(family.rawValue) UNet; for another model (the testbed, other shapes) pass its UNet config (--unet-config)"
        }
    }
}
