import Diffusion
import Foundation

/// A configuration that lives in a YAML file: loading validates it (through `ConfigValidating`, so errors
/// carry file and line), `yaml()` writes it back in a form that loads to the same value.
public protocol YAMLConfigFile: Codable, ConfigValidating {}

extension YAMLConfigFile {
    public static func load(from url: URL) throws -> Self {
        guard ["yaml", "yml"].contains(url.pathExtension.lowercased()) else {
            throw ConfigError(kind: .unreadable, file: url.path, line: nil, field: "",
                              message: "expected a .yaml or .yml file, found '.\(url.pathExtension)'")
        }
        return try YAMLDecoder().decode(Self.self, fromFileAt: url)
    }

    public func yaml() throws -> String {
        try YAMLEncoder().encode(self)
    }

    /// Writes `yaml()` to `url` atomically (temporary file, fsync, rename), so a reader never sees half a file.
    public func write(to url: URL) throws {
        try AtomicFile.write(Data(yaml().utf8), to: url.path)
    }
}

// MARK: - Shared parts

/// The base model a config runs on.
public struct ModelSource: Codable, Sendable, Equatable, ConfigValidating {
    /// A diffusers folder or a single-file `.safetensors` checkpoint.
    public var path: String
    public var family: ModelFamily
    /// Which CLIP layer from the end conditions the UNet (1 = the last); nil = the family's convention.
    public var clipSkip: Int?

    public init(path: String, family: ModelFamily, clipSkip: Int? = nil) {
        self.path = path
        self.family = family
        self.clipSkip = clipSkip
    }

    enum CodingKeys: String, CodingKey {
        case path, family
        case clipSkip = "clip_skip"
    }

    public func validate() throws(ConfigValidationError) {
        try ConfigRules.nonEmpty(path, "path")
        if let clipSkip { try ConfigRules.atLeast(1, clipSkip, "clip_skip") }
    }
}

extension ModelFamily {
    /// The image size the family was trained at, used where a config gives none.
    public var nativeResolution: Int {
        switch self {
        case .sd1: return 512
        case .sd2: return 768
        case .sdxl, .pony, .illustrious: return 1024
        case .testbed: return 64
        }
    }
}

// MARK: - Validation rules shared by the config types

/// The checks config types run in `validate()`, each throwing with the field name and the value found.
enum ConfigRules {
    static func check(_ condition: Bool, _ field: String, _ message: @autoclosure () -> String)
        throws(ConfigValidationError) {
        guard condition else { throw ConfigValidationError(field, message: message()) }
    }

    static func nonEmpty(_ text: String, _ field: String) throws(ConfigValidationError) {
        try check(!text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, field, "must not be empty")
    }

    static func atLeast(_ minimum: Int, _ value: Int, _ field: String) throws(ConfigValidationError) {
        try check(value >= minimum, field, "must be at least \(minimum), found \(value)")
    }

    static func finite(_ value: Double, _ field: String, atLeast minimum: Double) throws(ConfigValidationError) {
        try check(value.isFinite && value >= minimum, field,
                  "must be a finite number of at least \(minimum), found \(value)")
    }

    static func positive(_ value: Double, _ field: String) throws(ConfigValidationError) {
        try check(value.isFinite && value > 0, field, "must be a finite number greater than 0, found \(value)")
    }

    static func gate(_ value: Double?, _ field: String) throws(ConfigValidationError) {
        guard let value else { return }
        try check(value >= 0 && value <= 1, field, "must be between 0 and 1, found \(value)")
    }

    /// Image sides: what the VAE (a factor of 8) and the smallest UNet accept.
    static func imageSide(_ pixels: Int, _ field: String) throws(ConfigValidationError) {
        // Tiny models (the testbed, test fixtures) work at a few dozen pixels; whether a size suits a given
        // model (its VAE and UNet downsampling) is checked where the model is known.
        try check(pixels >= 8 && pixels % 8 == 0, field, "must be a positive multiple of 8 pixels, found \(pixels)")
    }
}

extension KeyedDecodingContainer {
    /// The value under `key`, or `fallback` when the key is absent or null: how every default is applied.
    func decode<T: Decodable>(_ key: Key, or fallback: @autoclosure () -> T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback()
    }
}
