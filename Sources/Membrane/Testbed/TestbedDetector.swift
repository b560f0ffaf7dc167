import Diffusion

/// What a detector reads in one image.
public struct TestbedDetection: Codable, Sendable, Equatable {
    /// The colours that cover at least the detector's minimum share of the coloured pixels, most pixels first.
    public var colours: [TestbedColour]
    /// The shape of the largest coloured region; nil when there is none.
    public var shape: TestbedShape?
    /// nil: plain (or no shape).
    public var texture: TestbedTexture?
    /// nil: no face.
    public var character: TestbedCharacter?
    /// Pixels of the largest coloured region, holes filled.
    public var foregroundPixels: Int

    public init(colours: [TestbedColour], shape: TestbedShape?, texture: TestbedTexture?,
                character: TestbedCharacter?, foregroundPixels: Int) {
        self.colours = colours
        self.shape = shape
        self.texture = texture
        self.character = character
        self.foregroundPixels = foregroundPixels
    }

    /// The colour with the most pixels.
    public var dominantColour: TestbedColour? { colours.first }

    /// Whether `concept` is in the image: a colour among `colours`, or the shape, texture or character found.
    public func shows(_ concept: TestbedConcept) -> Bool {
        switch concept {
        case .colour(let colour): colours.contains(colour)
        case .shape(let shape): self.shape == shape
        case .texture(let texture): self.texture == texture
        case .character(let character): self.character == character
        }
    }

    /// Whether the attribute of `kind` reads as in `scene`: the dominant colour, the shape, the texture or its
    /// absence, the character or its absence.
    public func agrees(with scene: TestbedScene, on kind: TestbedConceptKind) -> Bool {
        switch kind {
        case .colour: dominantColour == scene.colour
        case .shape: shape == scene.shape
        case .texture: texture == scene.texture
        case .character: character == scene.character
        }
    }

    /// Whether every attribute reads as in `scene`.
    public func agrees(with scene: TestbedScene) -> Bool {
        TestbedConceptKind.allCases.allSatisfy { agrees(with: scene, on: $0) }
    }
}

/// Reads colour, shape, texture and character from a testbed image — clean, or blurry and noisy as a small model
/// draws it. Deterministic, no learned weights:
/// - the foreground is where the (lightly smoothed) chroma is high, since backgrounds are grey; its largest
///   4-connected region with holes filled is the shape's mask;
/// - colours: each coloured pixel votes for the fill whose hue is nearest (blur and mixing with grey keep hue);
/// - shape: the upright template (circle, square, …) with the best overlap (IoU) with the mask, fitted to the
///   mask's box and searched over small size and position changes;
/// - character: face features are near-white, which no fill or texture is: pixels inside the mask whose darkest
///   channel rises well above the fill's;
/// - texture: a pixel inside the mask (face excluded), how well each texture's pattern (stripes, dot grid — fitted
///   over its offsets) explains the brightness, and how much darker it is.
/// Images of another size are area-resampled to 32×32 first.
public struct TestbedDetector: Sendable, Equatable {
    /// A colour counts when at least this share of coloured pixels votes for it.
    public var minimumColourShare: Double
    /// Fewer foreground pixels than this: nothing is detected.
    public var minimumForeground: Int
    /// How far (0–1) a pixel's darkest channel must rise above the fill's to count as a face feature.
    public var faceRise: Double
    /// How many face pixels make a face.
    public var minimumFacePixels: Int
    /// A texture is seen when its pattern explains at least this share of the brightness's variance …
    public var minimumTextureFit: Double
    /// … and is at least this much darker than the fill (a share of the fill's brightness).
    public var minimumTextureContrast: Double

    public init(minimumColourShare: Double = 0.2, minimumForeground: Int = 12, faceRise: Double = 0.2,
                minimumFacePixels: Int = 4, minimumTextureFit: Double = 0.3, minimumTextureContrast: Double = 0.15) {
        self.minimumColourShare = minimumColourShare
        self.minimumForeground = minimumForeground
        self.faceRise = faceRise
        self.minimumFacePixels = minimumFacePixels
        self.minimumTextureFit = minimumTextureFit
        self.minimumTextureContrast = minimumTextureContrast
    }

    public func detect(_ image: RGBImage) -> TestbedDetection {
        let analysis = analyse(image)
        let shares = analysis.colourShares
        // Largest share first; equal shares in the order of `TestbedColour.allCases`.
        let colours = TestbedColour.allCases.enumerated()
            .filter { (shares[$0.element] ?? 0) >= minimumColourShare }
            .sorted { ((shares[$0.element] ?? 0), -$0.offset) > ((shares[$1.element] ?? 0), -$1.offset) }
            .map(\.element)
        guard analysis.foregroundPixels >= minimumForeground else {
            return TestbedDetection(colours: colours, shape: nil, texture: nil, character: nil,
                                    foregroundPixels: analysis.foregroundPixels)
        }
        let character: TestbedCharacter? = analysis.facePixels >= minimumFacePixels ? .smiley : nil
        let texture = analysis.textureFits
            .filter { $0.value.fit >= minimumTextureFit && $0.value.contrast >= minimumTextureContrast }
            .max { $0.value.fit < $1.value.fit }?.key
        return TestbedDetection(colours: colours, shape: analysis.shape, texture: texture, character: character,
                                foregroundPixels: analysis.foregroundPixels)
    }

    /// The measurements the decisions are made from (exposed to the tests that tune the thresholds).
    struct Analysis {
        var colourShares: [TestbedColour: Double] = [:]
        var foregroundPixels = 0
        var shape: TestbedShape?
        var shapeOverlap = 0.0
        var facePixels = 0
        /// Per texture, the best (over pattern offsets) squared correlation of the shape's brightness with the
        /// texture's pattern, and the pattern's contrast (how much darker the pattern is, relative to the fill).
        var textureFits: [TestbedTexture: (fit: Double, contrast: Double)] = [:]
    }

    func analyse(_ image: RGBImage) -> Analysis {
        let side = TestbedWorld.imageSize
        let planes = TestbedPlanes(image: image, side: side)
        var analysis = Analysis()
        let smoothed = planes.smoothed()
        let chroma = (0..<side * side).map { smoothed.maximum($0) - smoothed.minimum($0) }
        // Three cuts of the chroma, relative to the fill's: a low one (22%) finds everything coloured, including a
        // blurred star's points; 40% is near where a blurred edge is (the shape's mask); 50% is safely inside it
        // (where the face and texture are measured). The low cut also stays above the border's typical chroma,
        // so a tinted background (a model's imperfect grey) is not taken for a shape.
        let fillChroma = Self.quantile(chroma, 0.95)
        let border = (0..<side * side).filter { $0 % side == 0 || $0 % side == side - 1 || $0 / side == 0 || $0 / side == side - 1 }
        let threshold = max(0.1, 0.22 * fillChroma, Self.quantile(border.map { chroma[$0] }, 0.5) + 0.1)
        let coloured = chroma.map { $0 >= threshold }
        let components = TestbedMask.components(coloured, side: side)

        // Colours: votes from every coloured region big enough not to be noise.
        var votes: [TestbedColour: Int] = [:]
        var voters = 0
        for component in components where component.count >= 6 {
            for index in component {
                guard let hue = TestbedColour.hue(red: smoothed.red[index], green: smoothed.green[index],
                                                  blue: smoothed.blue[index]) else { continue }
                votes[Self.nearestColour(hue: hue), default: 0] += 1
                voters += 1
            }
        }
        for (colour, count) in votes { analysis.colourShares[colour] = Double(count) / Double(max(voters, 1)) }

        guard let largest = components.max(by: { $0.count < $1.count }) else { return analysis }
        var region = [Bool](repeating: false, count: side * side)
        for index in largest { region[index] = true }
        let filled = TestbedMask.fillingHoles(region, side: side)
        analysis.foregroundPixels = filled.filter { $0 }.count
        guard analysis.foregroundPixels >= minimumForeground else { return analysis }
        let body = TestbedMask.fillingHoles((0..<side * side).map { filled[$0] && chroma[$0] >= max(0.1, 0.4 * fillChroma) },
                                            side: side)
        (analysis.shape, analysis.shapeOverlap) = TestbedShapeMatcher.bestShape(body, side: side)

        // Character: near-white pixels inside the mask, measured against the fill's darkest channel plus what a
        // light background bleeds in across a blurred edge (the background's share under a σ = 1 blur).
        let interior = TestbedMask.fillingHoles(
            (0..<side * side).map { body[$0] && chroma[$0] >= max(0.1, 0.5 * fillChroma) }, side: side)
        let darkest = (0..<side * side).map { planes.minimum($0) }
        let inner = TestbedMask.eroded(interior, side: side, steps: 1)
        let fillDarkest = Self.quantile((0..<side * side).filter { inner[$0] && coloured[$0] }.map { darkest[$0] }, 0.5)
        let backgroundDarkest = Self.quantile((0..<side * side).filter { !filled[$0] }.map { darkest[$0] }, 0.5)
        let outsideShare = TestbedDegradation.convolveSeparable(
            interior.map { $0 ? 0 : 1 }, width: side, height: side, kernel: TestbedDegradation.gaussianKernel(sigma: 1))
        let rise = (0..<side * side).map { index in
            darkest[index] - fillDarkest - max(0, backgroundDarkest - fillDarkest) * outsideShare[index]
        }
        analysis.facePixels = (0..<side * side).filter { inner[$0] && rise[$0] > faceRise }.count

        // Texture: brightness a pixel inside the mask, away from anything face-like.
        let facelike = TestbedMask.dilated((0..<side * side).map { inner[$0] && rise[$0] > faceRise / 2 }, side: side)
        let used = (0..<side * side).map { inner[$0] && !facelike[$0] }
        let pixels = (0..<side * side).filter { used[$0] }
        guard pixels.count >= 8 else { return analysis }
        let brightness = TestbedPlanes.smoothed((0..<side * side).map { planes.maximum($0) }, within: used, side: side)
        let reference = Self.quantile(pixels.map { brightness[$0] }, 0.9)
        guard reference > 0.05 else { return analysis }
        let values = pixels.map { brightness[$0] / reference }
        for texture in TestbedTexture.allCases {
            var best = (fit: 0.0, contrast: 0.0)
            for offset in Self.patternOffsets(texture) {
                let coverage = TestbedPlanes.smoothed(
                    Self.patternCoverage(texture, offset: offset, pixels: pixels, side: side), within: used, side: side)
                let fitted = Self.fit(values, to: pixels.map { coverage[$0] })
                if fitted.contrast > 0, fitted.fit > best.fit { best = fitted }
            }
            analysis.textureFits[texture] = best
        }
        return analysis
    }

    /// The offsets tried when fitting a texture: half a pixel apart for stripes, a pixel apart for dots.
    static func patternOffsets(_ texture: TestbedTexture) -> [(Double, Double)] {
        let steps = Int(TestbedStyle.period(texture))
        switch texture {
        case .striped: return (0..<2 * steps).map { (0, Double($0) / 2) }
        case .dotted: return (0..<steps * steps).map { (Double($0 % steps), Double($0 / steps)) }
        }
    }

    /// The share of each of `pixels` the pattern covers (4×4 samples a pixel); 0 elsewhere.
    static func patternCoverage(_ texture: TestbedTexture, offset: (Double, Double), pixels: [Int], side: Int) -> [Double] {
        let geometry = TestbedGeometry(centreX: 0, centreY: 0, size: 1, patternOffsetX: offset.0, patternOffsetY: offset.1)
        var coverage = [Double](repeating: 0, count: side * side)
        for index in pixels {
            var covered = 0
            for sample in 0..<16 {
                let x = Double(index % side) + (Double(sample % 4) + 0.5) / 4
                let y = Double(index / side) + (Double(sample / 4) + 0.5) / 4
                if TestbedStyle.patternContains(texture, geometry: geometry, x: x, y: y) { covered += 1 }
            }
            coverage[index] = Double(covered) / 16
        }
        return coverage
    }

    /// Least squares of `values` on `pattern`: the squared correlation and the contrast (minus the slope).
    static func fit(_ values: [Double], to pattern: [Double]) -> (fit: Double, contrast: Double) {
        let count = Double(values.count)
        let meanValue = values.reduce(0, +) / count, meanPattern = pattern.reduce(0, +) / count
        var covariance = 0.0, patternVariance = 0.0, valueVariance = 0.0
        for (value, weight) in zip(values, pattern) {
            covariance += (value - meanValue) * (weight - meanPattern)
            patternVariance += (weight - meanPattern) * (weight - meanPattern)
            valueVariance += (value - meanValue) * (value - meanValue)
        }
        guard patternVariance > 1e-9, valueVariance > 1e-12 else { return (0, 0) }
        return (covariance * covariance / (patternVariance * valueVariance), -covariance / patternVariance)
    }

    static func nearestColour(hue: Double) -> TestbedColour {
        func distance(_ colour: TestbedColour) -> Double {
            let difference = abs(colour.hue - hue)
            return min(difference, 360 - difference)
        }
        return TestbedColour.allCases.min { distance($0) < distance($1) } ?? .red
    }

    /// The `fraction` quantile (nearest rank) of `values`; 0 when empty.
    static func quantile(_ values: [Double], _ fraction: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(fraction * Double(sorted.count - 1) + 0.5))]
    }
}

/// An image as three planes of intensities in [0, 1], `side`×`side`.
struct TestbedPlanes {
    let side: Int
    var red: [Double]
    var green: [Double]
    var blue: [Double]

    init(side: Int, red: [Double], green: [Double], blue: [Double]) {
        self.side = side
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// `image` area-resampled to `side`×`side` (copied when it already is).
    init(image: RGBImage, side: Int) {
        self.side = side
        var planes = [[Double]](repeating: [Double](repeating: 0, count: side * side), count: 3)
        let scaleX = Double(image.width) / Double(side), scaleY = Double(image.height) / Double(side)
        for row in 0..<side {
            let top = Double(row) * scaleY, bottom = top + scaleY
            for column in 0..<side {
                let left = Double(column) * scaleX, right = left + scaleX
                var sums = [0.0, 0.0, 0.0], area = 0.0
                for y in Int(top)..<min(image.height, Int(bottom.rounded(.up))) {
                    let coverY = min(bottom, Double(y + 1)) - max(top, Double(y))
                    for x in Int(left)..<min(image.width, Int(right.rounded(.up))) {
                        let weight = coverY * (min(right, Double(x + 1)) - max(left, Double(x)))
                        guard weight > 0 else { continue }
                        let base = (y * image.width + x) * 3
                        for channel in 0..<3 { sums[channel] += weight * Double(image.pixels[base + channel]) }
                        area += weight
                    }
                }
                for channel in 0..<3 { planes[channel][row * side + column] = sums[channel] / (255 * area) }
            }
        }
        red = planes[0]
        green = planes[1]
        blue = planes[2]
    }

    func maximum(_ index: Int) -> Double { max(red[index], green[index], blue[index]) }
    func minimum(_ index: Int) -> Double { min(red[index], green[index], blue[index]) }

    /// Each plane through the 3×3 binomial filter [1 2 1]ᵀ[1 2 1]/16, edges repeated: noise drops ~7×,
    /// a region's hue and its half-chroma boundary stay where they were.
    func smoothed() -> TestbedPlanes {
        TestbedPlanes(side: side, red: Self.binomial(red, side: side), green: Self.binomial(green, side: side),
                      blue: Self.binomial(blue, side: side))
    }

    /// `values` smoothed by the binomial filter over the pixels of `mask` only (0 elsewhere).
    static func smoothed(_ values: [Double], within mask: [Bool], side: Int) -> [Double] {
        var result = [Double](repeating: 0, count: side * side)
        for y in 0..<side {
            for x in 0..<side where mask[y * side + x] {
                var sum = 0.0, weights = 0.0
                for dy in -1...1 {
                    for dx in -1...1 {
                        let ny = y + dy, nx = x + dx
                        guard ny >= 0, ny < side, nx >= 0, nx < side, mask[ny * side + nx] else { continue }
                        let weight = Double((2 - abs(dx)) * (2 - abs(dy)))
                        sum += weight * values[ny * side + nx]
                        weights += weight
                    }
                }
                result[y * side + x] = sum / weights
            }
        }
        return result
    }

    static func binomial(_ plane: [Double], side: Int) -> [Double] {
        TestbedDegradation.convolveSeparable(plane, width: side, height: side, kernel: [0.25, 0.5, 0.25])
    }
}

/// Binary masks on a `side`×`side` grid, row-major.
enum TestbedMask {
    /// The 4-connected regions of `mask`, each as its pixel indices.
    static func components(_ mask: [Bool], side: Int) -> [[Int]] {
        var seen = [Bool](repeating: false, count: mask.count)
        var result: [[Int]] = []
        for start in 0..<mask.count where mask[start] && !seen[start] {
            var component: [Int] = []
            var stack = [start]
            seen[start] = true
            while let index = stack.popLast() {
                component.append(index)
                for neighbour in neighbours(index, side: side) where mask[neighbour] && !seen[neighbour] {
                    seen[neighbour] = true
                    stack.append(neighbour)
                }
            }
            result.append(component)
        }
        return result
    }

    /// `mask` with every region of unset pixels that does not reach the border set.
    static func fillingHoles(_ mask: [Bool], side: Int) -> [Bool] {
        var outside = [Bool](repeating: false, count: mask.count)
        var stack = (0..<mask.count).filter { index in
            let x = index % side, y = index / side
            return !mask[index] && (x == 0 || y == 0 || x == side - 1 || y == side - 1)
        }
        for index in stack { outside[index] = true }
        while let index = stack.popLast() {
            for neighbour in neighbours(index, side: side) where !mask[neighbour] && !outside[neighbour] {
                outside[neighbour] = true
                stack.append(neighbour)
            }
        }
        return outside.map { !$0 }
    }

    /// `mask` eroded `steps` times by the 4-neighbourhood (outside the image counts as unset).
    static func eroded(_ mask: [Bool], side: Int, steps: Int) -> [Bool] {
        var current = mask
        for _ in 0..<steps {
            current = (0..<current.count).map { index in
                let x = index % side, y = index / side
                guard current[index], x > 0, y > 0, x < side - 1, y < side - 1 else { return false }
                return neighbours(index, side: side).allSatisfy { current[$0] }
            }
        }
        return current
    }

    /// `mask` dilated once by the 8-neighbourhood.
    static func dilated(_ mask: [Bool], side: Int) -> [Bool] {
        (0..<mask.count).map { index in
            let x = index % side, y = index / side
            for dy in -1...1 {
                for dx in -1...1 {
                    let nx = x + dx, ny = y + dy
                    if nx >= 0, ny >= 0, nx < side, ny < side, mask[ny * side + nx] { return true }
                }
            }
            return false
        }
    }

    static func neighbours(_ index: Int, side: Int) -> [Int] {
        let x = index % side, y = index / side
        var result: [Int] = []
        if x > 0 { result.append(index - 1) }
        if x < side - 1 { result.append(index + 1) }
        if y > 0 { result.append(index - side) }
        if y < side - 1 { result.append(index + side) }
        return result
    }
}

/// Nearest-template shape reading: each upright shape, fitted to the mask's box, moved and scaled a little, drawn
/// sharp and blurred (σ = 1, cut at 40% like the mask), kept at its best overlap with the mask; the shape with the
/// best overlap wins. The blurred drawing is what a blurry image's mask looks like: a star with rounded points.
enum TestbedShapeMatcher {
    /// Each shape's box in size units: (left, right, top, bottom).
    static func box(_ shape: TestbedShape) -> (Double, Double, Double, Double) {
        switch shape {
        case .circle, .cross: (-1, 1, -1, 1)
        case .square: (-0.85, 0.85, -0.85, 0.85)
        case .triangle: (-1, 1, -0.9, 0.83)
        case .star: (-0.9510565163, 0.9510565163, -1 + TestbedStyle.starShift, 0.8090169944 + TestbedStyle.starShift)
        }
    }

    static func bestShape(_ mask: [Bool], side: Int) -> (TestbedShape?, Double) {
        var left = side, right = -1, top = side, bottom = -1
        for index in 0..<mask.count where mask[index] {
            let x = index % side, y = index / side
            left = min(left, x); right = max(right, x); top = min(top, y); bottom = max(bottom, y)
        }
        guard right >= left else { return (nil, 0) }
        // The box's edges in world coordinates.
        let boxLeft = Double(left), boxRight = Double(right + 1), boxTop = Double(top), boxBottom = Double(bottom + 1)
        let setCount = mask.filter { $0 }.count
        // The window drawn: the mask's box grown by 3 pixels.
        let x0 = max(0, left - 3), x1 = min(side - 1, right + 3), y0 = max(0, top - 3), y1 = min(side - 1, bottom + 3)
        let width = x1 - x0 + 1, height = y1 - y0 + 1
        let kernel = TestbedDegradation.gaussianKernel(sigma: 1)
        var best: (TestbedShape?, Double) = (nil, -1)
        for shape in TestbedShape.allCases {
            let (l, r, t, b) = box(shape)
            let size = ((boxRight - boxLeft) / (r - l) + (boxBottom - boxTop) / (b - t)) / 2
            let centreX = (boxLeft + boxRight) / 2 - (l + r) / 2 * size
            let centreY = (boxTop + boxBottom) / 2 - (t + b) / 2 * size
            for scale in [0.94, 1.0, 1.06] {
                for (shiftX, shiftY) in [(0.0, 0.0), (-0.5, 0), (0.5, 0), (0, -0.5), (0, 0.5)] {
                    do {
                        let geometry = TestbedGeometry(centreX: centreX + shiftX, centreY: centreY + shiftY,
                                                       size: size * scale)
                        var coverage = [Double](repeating: 0, count: width * height)
                        for y in 0..<height {
                            for x in 0..<width {
                                var covered = 0
                                for sample in 0..<4 {
                                    let px = Double(x0 + x) + 0.25 + 0.5 * Double(sample % 2)
                                    let py = Double(y0 + y) + 0.25 + 0.5 * Double(sample / 2)
                                    if TestbedStyle.contains(shape, geometry: geometry, x: px, y: py) { covered += 1 }
                                }
                                coverage[y * width + x] = Double(covered) / 4
                            }
                        }
                        let blurred = TestbedDegradation.convolveSeparable(coverage, width: width, height: height,
                                                                           kernel: kernel)
                        for template in [coverage.map { $0 >= 0.5 }, blurred.map { $0 >= 0.4 }] {
                            var intersection = 0, templateCount = 0
                            for y in 0..<height {
                                for x in 0..<width where template[y * width + x] {
                                    templateCount += 1
                                    if mask[(y0 + y) * side + x0 + x] { intersection += 1 }
                                }
                            }
                            let overlap = Double(intersection) / Double(setCount + templateCount - intersection)
                            if overlap > best.1 { best = (shape, overlap) }
                        }
                    }
                }
            }
        }
        return best
    }
}
