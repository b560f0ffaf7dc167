/// The words one caption uses for a scene's attributes: any of each concept's words.
public struct TestbedWording: Codable, Sendable, Equatable {
    public var colour: String
    public var shape: String
    /// Present exactly when the scene has a texture.
    public var texture: String?
    /// Present exactly when the scene has a character.
    public var character: String?
    public var background: String

    public init(colour: String, shape: String, texture: String? = nil, character: String? = nil, background: String) {
        self.colour = colour
        self.shape = shape
        self.texture = texture
        self.character = character
        self.background = background
    }

    /// Each attribute by its canonical word.
    public init(canonicalFor scene: TestbedScene) {
        self.init(colour: scene.colour.rawValue, shape: scene.shape.rawValue, texture: scene.texture?.rawValue,
                  character: scene.character?.rawValue, background: scene.background.words[0])
    }

    /// Each attribute by one of its words, drawn uniformly.
    public init(randomFor scene: TestbedScene, using generator: inout TestbedGenerator) {
        self.init(colour: generator.pick(TestbedConcept.colour(scene.colour).words),
                  shape: generator.pick(TestbedConcept.shape(scene.shape).words),
                  texture: scene.texture.map { generator.pick(TestbedConcept.texture($0).words) },
                  character: scene.character.map { generator.pick(TestbedConcept.character($0).words) },
                  background: generator.pick(scene.background.words))
    }

    /// The same wording with the word for `concept`'s kind replaced by `word`.
    public func naming(_ concept: TestbedConcept, as word: String) -> TestbedWording {
        var copy = self
        switch concept.kind {
        case .colour: copy.colour = word
        case .shape: copy.shape = word
        case .texture: copy.texture = word
        case .character: copy.character = word
        }
        return copy
    }
}

/// The sentence frames captions are made from. Every caption names the colour, the shape, the texture when there
/// is one and the character when there is one; some also name the background.
public enum TestbedTemplate: String, CaseIterable, Codable, Sendable {
    /// "striped red circle with a smiley"
    case bare
    /// "a striped red circle with a smiley"
    case article
    /// "a picture of a striped red circle with a smiley on a white background"
    case picture
    /// "a drawing of a striped red circle with a smiley"
    case drawing
    /// "an image of a striped red circle with a smiley on black"
    case image
    /// "a striped circle in red with a smiley"
    case inColour
    /// "a simple icon of a striped red circle with a smiley"
    case icon

    /// The caption `wording` makes in this frame.
    public func caption(_ wording: TestbedWording) -> String {
        let characterPart = wording.character.map { " with a \($0)" } ?? ""
        let texturePart = wording.texture.map { "\($0) " } ?? ""
        let phrase = "\(texturePart)\(wording.colour) \(wording.shape)\(characterPart)"
        switch self {
        case .bare: return phrase
        case .article: return Self.article(phrase)
        case .picture: return "a picture of \(Self.article(phrase)) on a \(wording.background) background"
        case .drawing: return "a drawing of \(Self.article(phrase))"
        case .image: return "an image of \(Self.article(phrase)) on \(wording.background)"
        case .inColour: return Self.article("\(texturePart)\(wording.shape) in \(wording.colour)\(characterPart)")
        case .icon: return "a simple icon of \(Self.article(phrase))"
        }
    }

    /// "a" or "an" before `phrase`, by its first letter (every testbed word follows that rule).
    static func article(_ phrase: String) -> String {
        let vowel = phrase.first.map { "aeiou".contains($0) } ?? false
        return (vowel ? "an " : "a ") + phrase
    }
}

extension TestbedScene {
    /// A caption in a random frame with random synonyms.
    public func caption(using generator: inout TestbedGenerator) -> String {
        let template = generator.pick(TestbedTemplate.allCases)
        return template.caption(TestbedWording(randomFor: self, using: &generator))
    }

    /// The caption in `template` with canonical words.
    public func caption(_ template: TestbedTemplate = .article) -> String {
        template.caption(TestbedWording(canonicalFor: self))
    }
}
