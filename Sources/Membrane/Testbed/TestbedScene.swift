import Diffusion

/// Where a shape sits in its image and how its texture lines up. Lengths are in pixels; `(0, 0)` is the top-left
/// corner of the image, so pixel `(i, j)` covers `[i, i+1) × [j, j+1)`.
public struct TestbedGeometry: Codable, Sendable, Equatable {
    /// The centre of the shape's box.
    public var centreX: Double
    public var centreY: Double
    /// Half the shape's extent (a circle's radius).
    public var size: Double
    /// Where the texture's stripes and dots start, in pixels within one period.
    public var patternOffsetX: Double
    public var patternOffsetY: Double

    public init(centreX: Double, centreY: Double, size: Double, patternOffsetX: Double = 0, patternOffsetY: Double = 0) {
        self.centreX = centreX
        self.centreY = centreY
        self.size = size
        self.patternOffsetX = patternOffsetX
        self.patternOffsetY = patternOffsetY
    }
}

/// One picture of the testbed world: a coloured shape, perhaps textured, perhaps with a face, on a plain background.
public struct TestbedScene: Codable, Sendable, Equatable {
    public var shape: TestbedShape
    public var colour: TestbedColour
    public var texture: TestbedTexture?
    public var character: TestbedCharacter?
    public var background: TestbedBackground
    public var geometry: TestbedGeometry

    public init(shape: TestbedShape, colour: TestbedColour, texture: TestbedTexture? = nil,
                character: TestbedCharacter? = nil, background: TestbedBackground = .white,
                geometry: TestbedGeometry = TestbedGeometry(centreX: 16, centreY: 16, size: 11)) {
        self.shape = shape
        self.colour = colour
        self.texture = texture
        self.character = character
        self.background = background
        self.geometry = geometry
    }

    /// Whether the scene shows `concept`.
    public func shows(_ concept: TestbedConcept) -> Bool {
        switch concept {
        case .colour(let wanted): colour == wanted
        case .shape(let wanted): shape == wanted
        case .texture(let wanted): texture == wanted
        case .character(let wanted): character == wanted
        }
    }

    /// The scene drawn at `side`×`side` pixels (geometry scaled from the 32-pixel world), 4×4 samples per pixel.
    public func render(side: Int = TestbedWorld.imageSize) -> RGBImage {
        let scale = Double(side) / Double(TestbedWorld.imageSize)
        let samplesPerAxis = 4
        let fill = colour.rgb
        let fillColour = (Double(fill.red), Double(fill.green), Double(fill.blue))
        let shade = (fillColour.0 * TestbedStyle.textureShade, fillColour.1 * TestbedStyle.textureShade,
                     fillColour.2 * TestbedStyle.textureShade)
        let backgroundLevel = Double(background.level)
        var pixels = [UInt8](repeating: 0, count: side * side * 3)
        for row in 0..<side {
            for column in 0..<side {
                var sum = (0.0, 0.0, 0.0)
                for sy in 0..<samplesPerAxis {
                    for sx in 0..<samplesPerAxis {
                        // A sample point in 32-pixel world coordinates.
                        let x = (Double(column) + (Double(sx) + 0.5) / Double(samplesPerAxis)) / scale
                        let y = (Double(row) + (Double(sy) + 0.5) / Double(samplesPerAxis)) / scale
                        let sample: (Double, Double, Double)
                        if !TestbedStyle.contains(shape, geometry: geometry, x: x, y: y) {
                            sample = (backgroundLevel, backgroundLevel, backgroundLevel)
                        } else if character != nil, TestbedStyle.faceContains(shape, geometry: geometry, x: x, y: y) {
                            let level = TestbedStyle.faceLevel
                            sample = (level, level, level)
                        } else if let texture, TestbedStyle.patternContains(texture, geometry: geometry, x: x, y: y) {
                            sample = shade
                        } else {
                            sample = fillColour
                        }
                        sum = (sum.0 + sample.0, sum.1 + sample.1, sum.2 + sample.2)
                    }
                }
                let count = Double(samplesPerAxis * samplesPerAxis)
                let index = (row * side + column) * 3
                pixels[index] = UInt8((sum.0 / count).rounded())
                pixels[index + 1] = UInt8((sum.1 / count).rounded())
                pixels[index + 2] = UInt8((sum.2 / count).rounded())
            }
        }
        return RGBImage(width: side, height: side, pixels: pixels)
    }
}

/// The drawing rules shared by the renderer and the detector's templates. Only `+ − × ÷` and square roots
/// (correctly rounded everywhere), so pixels are the same on every platform.
enum TestbedStyle {
    /// Textures are the fill times this.
    static let textureShade = 0.55
    /// Face features are this grey level (near white: no fill or texture is that light).
    static let faceLevel = 240.0
    /// Stripes repeat every this many pixels (at 32×32), half dark: coarse enough to survive a blur.
    static let stripePeriod = 8.0
    /// Dots sit on a square grid this many pixels apart (finer than stripes, so even a star shows a few).
    static let dotPeriod = 6.0
    static let dotRadius = 1.7

    static func period(_ texture: TestbedTexture) -> Double {
        switch texture {
        case .striped: stripePeriod
        case .dotted: dotPeriod
        }
    }

    /// Star vertices (outer radius 1, inner 0.55 — a fat star, so blur keeps its points — a point up), the circumcentre moved down by 0.0955 so the
    /// star's box is centred. cos/sin of multiples of 18° are written out rather than computed.
    static let starVertices: [(Double, Double)] = {
        let outer: [(Double, Double)] = [(0, -1), (0.9510565163, -0.3090169944), (0.5877852523, 0.8090169944),
                                         (-0.5877852523, 0.8090169944), (-0.9510565163, -0.3090169944)]
        let inner: [(Double, Double)] = [(0.5877852523, -0.8090169944), (0.9510565163, 0.3090169944), (0, 1),
                                         (-0.9510565163, 0.3090169944), (-0.5877852523, -0.8090169944)]
        var vertices: [(Double, Double)] = []
        for k in 0..<5 {
            vertices.append((outer[k].0, outer[k].1 + starShift))
            vertices.append((inner[k].0 * starInnerRadius, inner[k].1 * starInnerRadius + starShift))
        }
        return vertices
    }()
    static let starInnerRadius = 0.55
    static let starShift = 0.0955

    /// Whether the world point `(x, y)` is inside the shape.
    static func contains(_ shape: TestbedShape, geometry: TestbedGeometry, x: Double, y: Double) -> Bool {
        let u = (x - geometry.centreX) / geometry.size
        let v = (y - geometry.centreY) / geometry.size
        return contains(shape, u: u, v: v)
    }

    /// Whether `(u, v)`, in units of the shape's size from its centre, is inside the shape.
    static func contains(_ shape: TestbedShape, u: Double, v: Double) -> Bool {
        switch shape {
        case .circle:
            return u * u + v * v <= 1
        case .square:
            return abs(u) <= 0.85 && abs(v) <= 0.85
        case .triangle:
            // Apex (0, −0.9), base corners (±1, 0.83): nearly equilateral.
            return v <= 0.83 && abs(u) <= (v + 0.9) / 1.73
        case .star:
            return polygonContains(starVertices, u: u, v: v)
        case .cross:
            let arm = 0.32
            return (abs(u) <= arm && abs(v) <= 1) || (abs(v) <= arm && abs(u) <= 1)
        }
    }

    /// Even–odd crossing test.
    static func polygonContains(_ vertices: [(Double, Double)], u: Double, v: Double) -> Bool {
        var inside = false
        var previous = vertices[vertices.count - 1]
        for vertex in vertices {
            if (vertex.1 > v) != (previous.1 > v) {
                let crossing = previous.0 + (v - previous.1) * (vertex.0 - previous.0) / (vertex.1 - previous.1)
                if u < crossing { inside.toggle() }
            }
            previous = vertex
        }
        return inside
    }

    /// Where the face sits on each shape (its centre, in size units) and how big it is: inside the shape's
    /// widest interior.
    static func facePlacement(_ shape: TestbedShape) -> (u: Double, v: Double, scale: Double) {
        switch shape {
        case .circle: (0, 0, 0.75)
        case .square: (0, 0, 0.75)
        case .triangle: (0, 0.25, 0.75)
        case .star: (0, 0.1, 0.65)
        case .cross: (0, 0.05, 0.6)
        }
    }

    /// Whether `(x, y)` falls on the smiley's eyes or mouth.
    static func faceContains(_ shape: TestbedShape, geometry: TestbedGeometry, x: Double, y: Double) -> Bool {
        let placement = facePlacement(shape)
        let faceSize = placement.scale * geometry.size
        let fx = ((x - geometry.centreX) / geometry.size - placement.u) * geometry.size / faceSize
        let fy = ((y - geometry.centreY) / geometry.size - placement.v) * geometry.size / faceSize
        // Eyes: discs at (±0.38, −0.28), radius 0.2 (at least 1.2 px).
        let eyeRadius = max(0.2, 1.2 / faceSize)
        for side in [-0.38, 0.38] {
            let dx = fx - side, dy = fy + 0.28
            if dx * dx + dy * dy <= eyeRadius * eyeRadius { return true }
        }
        // Mouth: the lower part of a ring of radius 0.5 around the face centre.
        let mouthHalfWidth = max(0.1, 0.65 / faceSize)
        let distance = (fx * fx + fy * fy).squareRoot()
        return fy >= 0.2 && abs(distance - 0.5) <= mouthHalfWidth
    }

    /// Whether `(x, y)` is on the texture's dark part (stripes: horizontal bands; dots: a square grid).
    static func patternContains(_ texture: TestbedTexture, geometry: TestbedGeometry, x: Double, y: Double) -> Bool {
        let period = period(texture)
        switch texture {
        case .striped:
            let phase = (y + geometry.patternOffsetY) / period
            return phase - phase.rounded(.down) < 0.5
        case .dotted:
            let px = (x + geometry.patternOffsetX) / period, py = (y + geometry.patternOffsetY) / period
            let dx = (px - px.rounded(.down) - 0.5) * period, dy = (py - py.rounded(.down) - 0.5) * period
            return dx * dx + dy * dy <= dotRadius * dotRadius
        }
    }
}
