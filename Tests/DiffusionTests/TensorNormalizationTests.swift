import Foundation
import Testing
@testable import Diffusion

// The fused GroupNorm (with and without SiLU), LayerNorm and GEGLU against the textbook formulas in Double.
// Tolerance: the engine takes statistics in Double and rounds a few fp32 steps per element (normalise, affine,
// SiLU/erf): relative 1e-5 plus 1e-6 absolute, far below what a wrong group, channel or half would give.

@Suite struct TensorNormalizationTests {
    /// GroupNorm by definition: statistics of each (sample, group) over its channels and positions.
    static func naiveGroupNorm(_ x: Tensor, groups: Int, weight: [Double], bias: [Double], epsilon: Double,
                               silu: Bool) -> [Double] {
        let values = naiveValues(x)
        let (batch, channels) = (x.shape[0], x.shape[1])
        let plane = x.elementCount / (batch * channels), perGroup = channels / groups
        var result = [Double](repeating: 0, count: values.count)
        for sample in 0..<batch {
            for group in 0..<groups {
                let start = (sample * channels + group * perGroup) * plane
                let row = Array(values[start..<start + perGroup * plane])
                let mean = row.reduce(0, +) / Double(row.count)
                let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(row.count)
                for i in row.indices {
                    let channel = group * perGroup + i / plane
                    let y = (row[i] - mean) / (variance + epsilon).squareRoot() * weight[channel] + bias[channel]
                    result[start + i] = silu ? y / (1 + Foundation.exp(-y)) : y
                }
            }
        }
        return result
    }

    @Test(arguments: [
        (shape: [2, 6, 5, 3], groups: 3, silu: false),
        (shape: [2, 6, 5, 3], groups: 3, silu: true),
        (shape: [1, 64, 33, 35], groups: 32, silu: true),  // large enough for both threads, odd plane (vector tail)
        (shape: [3, 4, 7], groups: 4, silu: false),  // rank 3, one channel per group
    ])
    func groupNormMatchesDefinition(_ test: (shape: [Int], groups: Int, silu: Bool)) {
        let channels = test.shape[1]
        // An offset mean (3) and scale (2) check the two-pass statistics.
        let x = randomTensor(test.shape, seed: 60, in: 1...5)
        let weight = randomTensor([channels], seed: 61, in: 0.5...1.5), bias = randomTensor([channels], seed: 62)
        let expected = Self.naiveGroupNorm(x, groups: test.groups, weight: naiveValues(weight), bias: naiveValues(bias),
                                           epsilon: 1e-5, silu: test.silu)
        let actual = Tensor.groupNorm(x, groups: test.groups, weight: weight, bias: bias, epsilon: 1e-5,
                                      followedBySiLU: test.silu)
        expectClose(actual, expected, shape: test.shape, relative: 1e-5, "groupNorm \(test)")
        // A strided view of the same values gives the same result.
        let strided = x.transposed().contiguous().transposed()
        #expect(Tensor.groupNorm(strided, groups: test.groups, weight: weight, bias: bias, epsilon: 1e-5,
                                 followedBySiLU: test.silu).toArray() == actual.toArray())
    }

    @Test func layerNormMatchesDefinition() {
        for shape in [[3, 7], [2, 300, 320]] {
            let features = shape.last!
            let x = randomTensor(shape, seed: 63, in: -2...4)
            let weight = naiveValues(randomTensor([features], seed: 64, in: 0.5...1.5))
            let bias = naiveValues(randomTensor([features], seed: 65))
            let values = naiveValues(x)
            var expected = [Double](repeating: 0, count: values.count)
            for start in Swift.stride(from: 0, to: values.count, by: features) {
                let row = values[start..<start + features]
                let mean = row.reduce(0, +) / Double(features)
                let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(features)
                for i in 0..<features {
                    expected[start + i] = (row[start + i] - mean) / (variance + 1e-5).squareRoot() * weight[i] + bias[i]
                }
            }
            let actual = Tensor.layerNorm(x, weight: Tensor(weight.map(Float.init), shape: [features]),
                                          bias: Tensor(bias.map(Float.init), shape: [features]), epsilon: 1e-5)
            expectClose(actual, expected, shape: shape, relative: 1e-5, "layerNorm \(shape)")
        }
    }

    @Test func gegluIsFirstHalfTimesGELUOfSecond() {
        let x = randomTensor([2, 3, 10], seed: 66, in: -4...4)
        let values = naiveValues(x)
        var expected: [Double] = []
        for row in 0..<6 {
            for i in 0..<5 {
                let (a, b) = (values[row * 10 + i], values[row * 10 + 5 + i])
                expected.append(a * 0.5 * b * (1 + Foundation.erf(b / 2.0.squareRoot())))
            }
        }
        expectClose(x.geglu(), expected, shape: [2, 3, 5], relative: 1e-5, "geglu")
    }
}
