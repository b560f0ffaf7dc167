import Foundation

/// The attributes a testbed scene is made of. Every word a caption can use is a whole word of the CLIP BPE
/// vocabulary (one token each), so the tiny model sees each synonym as its own token.

/// A shape's fill colour: saturated, with hues far enough apart (0°, 27°, 57°, 129°, 223°, 280°) that blur,
/// noise and a slight colour shift keep them apart.
public enum TestbedColour: String, CaseIterable, Codable, Sendable {
    case red, orange, yellow, green, blue, purple

    /// The fill, 8-bit RGB.
    public var rgb: (red: UInt8, green: UInt8, blue: UInt8) {
        switch self {
        case .red: (220, 40, 40)
        case .orange: (240, 120, 20)
        case .yellow: (230, 220, 30)
        case .green: (40, 180, 60)
        case .blue: (40, 90, 220)
        case .purple: (150, 50, 200)
        }
    }

    /// The fill's hue in degrees, what the detector compares against.
    public var hue: Double {
        let (r, g, b) = rgb
        return TestbedColour.hue(red: Double(r), green: Double(g), blue: Double(b)) ?? 0
    }

    /// The hue (degrees in [0, 360)) of a colour, nil for a grey.
    static func hue(red: Double, green: Double, blue: Double) -> Double? {
        let high = max(red, green, blue), low = min(red, green, blue), range = high - low
        guard range > 0 else { return nil }
        let degrees: Double
        if high == red {
            degrees = 60 * (green - blue) / range
        } else if high == green {
            degrees = 120 + 60 * (blue - red) / range
        } else {
            degrees = 240 + 60 * (red - green) / range
        }
        return degrees < 0 ? degrees + 360 : degrees
    }
}

/// An upright shape, drawn centred in its geometry's box.
public enum TestbedShape: String, CaseIterable, Codable, Sendable {
    case circle, square, triangle, star, cross
}

/// A pattern over the fill — the "art style" kind of concept. Drawn in a darker shade of the fill, so the hue
/// (and so the colour) stays the same.
public enum TestbedTexture: String, CaseIterable, Codable, Sendable {
    case striped, dotted
}

/// A face drawn on the shape — the "Snoopy" kind of concept. Its features are near-white, which no fill or
/// texture is.
public enum TestbedCharacter: String, CaseIterable, Codable, Sendable {
    case smiley
}

/// A plain neutral background: no hue, so colour detection never confuses it with a fill.
public enum TestbedBackground: String, CaseIterable, Codable, Sendable {
    case white, lightGrey, darkGrey, black

    /// The grey level, 8-bit.
    public var level: UInt8 {
        switch self {
        case .white: 245
        case .lightGrey: 195
        case .darkGrey: 70
        case .black: 15
        }
    }

    /// The phrases a caption may name it with ("on a … background").
    public var words: [String] {
        switch self {
        case .white: ["white"]
        case .lightGrey: ["light grey", "pale grey"]
        case .darkGrey: ["dark grey", "charcoal"]
        case .black: ["black"]
        }
    }
}

/// What a concept is: the four kinds a membrane can erase in the testbed.
public enum TestbedConceptKind: String, CaseIterable, Codable, Sendable {
    case colour, shape, texture, character
}

/// One erasable concept of the testbed, with the words captions name it by.
public enum TestbedConcept: Hashable, Sendable, CustomStringConvertible {
    case colour(TestbedColour)
    case shape(TestbedShape)
    case texture(TestbedTexture)
    case character(TestbedCharacter)

    /// Every concept, colours first, then shapes, textures, characters.
    public static let all: [TestbedConcept] =
        TestbedColour.allCases.map(colour) + TestbedShape.allCases.map(shape)
        + TestbedTexture.allCases.map(texture) + TestbedCharacter.allCases.map(character)

    /// The concept any of whose words (canonical or synonym) is `word`, ignoring case and outer spaces.
    public init?(word: String) {
        let wanted = word.trimmingCharacters(in: .whitespaces).lowercased()
        guard let found = Self.all.first(where: { $0.words.contains(wanted) }) else { return nil }
        self = found
    }

    public var kind: TestbedConceptKind {
        switch self {
        case .colour: .colour
        case .shape: .shape
        case .texture: .texture
        case .character: .character
        }
    }

    /// The word configs and reports name the concept by (unique across all concepts).
    public var canonicalWord: String {
        switch self {
        case .colour(let colour): colour.rawValue
        case .shape(let shape): shape.rawValue
        case .texture(let texture): texture.rawValue
        case .character(let character): character.rawValue
        }
    }

    /// Other words and phrases captions use for the same concept.
    public var synonyms: [String] {
        switch self {
        case .colour(.red): ["crimson", "scarlet"]
        case .colour(.orange): ["tangerine", "amber"]
        case .colour(.yellow): ["golden", "lemon"]
        case .colour(.green): ["emerald", "jade"]
        case .colour(.blue): ["azure", "cobalt"]
        case .colour(.purple): ["violet", "plum"]
        case .shape(.circle): ["disc", "round shape"]
        case .shape(.square): ["box", "block"]
        case .shape(.triangle): ["wedge", "pyramid"]
        case .shape(.star): ["sparkle", "five pointed star"]
        case .shape(.cross): ["plus", "plus sign"]
        case .texture(.striped): ["banded", "lined"]
        case .texture(.dotted): ["spotted", "polka dot"]
        case .character(.smiley): ["smiley face", "happy face", "grin"]
        }
    }

    /// The canonical word, then the synonyms.
    public var words: [String] { [canonicalWord] + synonyms }

    public var description: String { canonicalWord }
}

extension TestbedConcept: Codable {
    /// Encoded as its canonical word, e.g. `"red"`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let word = try container.decode(String.self)
        guard let concept = TestbedConcept(word: word), concept.canonicalWord == word.lowercased() else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "'\(word)' is not a testbed concept (expected one of "
                    + TestbedConcept.all.map(\.canonicalWord).joined(separator: ", ") + ")")
        }
        self = concept
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(canonicalWord)
    }
}
