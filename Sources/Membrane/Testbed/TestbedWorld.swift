import Diffusion

/// One training pair of the testbed, with the scene it shows.
public struct TestbedSample: Sendable, Equatable {
    public var scene: TestbedScene
    public var caption: String
    public var image: RGBImage
}

/// The procedural world the testbed model is trained on: random scenes, their images and captions, all by seed.
/// Sample `i` of seed `s` is the same whatever else was drawn before it.
public struct TestbedWorld: Sendable, Equatable {
    /// The side of the world's images.
    public static let imageSize = 32
    /// The range of a shape's half-extent, in pixels.
    public static let sizeRange = 9.5...12.5
    /// How close (pixels) a shape's box may come to the image edge.
    public static let margin = 1.5

    /// The share of scenes with a texture (split evenly between the textures).
    public var textureProbability: Double
    /// The share of scenes with a character.
    public var characterProbability: Double

    public init(textureProbability: Double = 0.4, characterProbability: Double = 0.3) {
        self.textureProbability = textureProbability
        self.characterProbability = characterProbability
    }

    /// The concepts a membrane can erase here, with their words and kinds.
    public var concepts: [TestbedConcept] { TestbedConcept.all }

    /// A random scene. `requiring` forces one concept into it; `avoiding` keeps concepts out (their kind is then
    /// drawn from the other values, or left out for a texture or character).
    public func scene(using generator: inout TestbedGenerator, requiring: TestbedConcept? = nil,
                      avoiding: [TestbedConcept] = []) -> TestbedScene {
        func allowed(_ concept: TestbedConcept) -> Bool { !avoiding.contains(concept) }
        var colour = generator.pick(TestbedColour.allCases.filter { allowed(.colour($0)) })
        var shape = generator.pick(TestbedShape.allCases.filter { allowed(.shape($0)) })
        var texture: TestbedTexture? = generator.chance(textureProbability)
            ? generator.pick(TestbedTexture.allCases) : nil
        if let chosen = texture, !allowed(.texture(chosen)) { texture = nil }
        var character: TestbedCharacter? = generator.chance(characterProbability)
            ? generator.pick(TestbedCharacter.allCases) : nil
        if let chosen = character, !allowed(.character(chosen)) { character = nil }
        let background = generator.pick(TestbedBackground.allCases)
        let size = generator.uniform(Self.sizeRange.lowerBound, Self.sizeRange.upperBound)
        let slack = Double(Self.imageSize) / 2 - Self.margin - size
        let geometry = TestbedGeometry(
            centreX: Double(Self.imageSize) / 2 + generator.uniform(-slack, slack),
            centreY: Double(Self.imageSize) / 2 + generator.uniform(-slack, slack),
            size: size,
            patternOffsetX: generator.uniform(0, TestbedStyle.stripePeriod),
            patternOffsetY: generator.uniform(0, TestbedStyle.stripePeriod))
        switch requiring {
        case .colour(let wanted): colour = wanted
        case .shape(let wanted): shape = wanted
        case .texture(let wanted): texture = wanted
        case .character(let wanted): character = wanted
        case nil: break
        }
        return TestbedScene(shape: shape, colour: colour, texture: texture, character: character,
                            background: background, geometry: geometry)
    }

    /// Scene `index` of the stream `seed`.
    public func scene(seed: UInt64, index: Int) -> TestbedScene {
        var generator = TestbedGenerator(seed: seed, index: UInt64(index))
        return scene(using: &generator)
    }

    /// Training pair `index` of the stream `seed`: a scene, a caption for it (random frame and synonyms), its image.
    public func sample(seed: UInt64, index: Int) -> TestbedSample {
        var generator = TestbedGenerator(seed: seed, index: UInt64(index))
        let scene = scene(using: &generator)
        let caption = scene.caption(using: &generator)
        return TestbedSample(scene: scene, caption: caption, image: scene.render())
    }

    /// Training pairs `indices` of the stream `seed`.
    public func samples(seed: UInt64, indices: Range<Int>) -> [TestbedSample] {
        indices.map { sample(seed: seed, index: $0) }
    }
}
