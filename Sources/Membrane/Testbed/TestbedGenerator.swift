import Foundation

/// The testbed's own seeded generator (SplitMix64, Steele et al. 2014). Every draw of the procedural world goes
/// through it, with conversions written out here rather than taken from the standard library's `random(in:using:)`,
/// so a seed gives the same scenes, captions and pixels on every platform and Swift version.
public struct TestbedGenerator: Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for item `index` of the stream `seed`: items can be drawn in any order, each independent.
    public init(seed: UInt64, index: UInt64) {
        var mixer = TestbedGenerator(seed: seed ^ 0x5DEE_CE66_D1CE_4E5B)
        for _ in 0..<2 { _ = mixer.next() }
        state = mixer.next() &+ index &* 0xD1B5_4A32_D192_ED03
        _ = next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1): the top 53 bits as a fraction.
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform in [lower, upper).
    public mutating func uniform(_ lower: Double, _ upper: Double) -> Double {
        lower + (upper - lower) * unit()
    }

    /// Uniform in 0..<count (multiply-shift; the bias is below 2⁻³² for any count the testbed uses).
    public mutating func index(below count: Int) -> Int {
        precondition(count > 0, "TestbedGenerator.index(below:) needs a positive count")
        return Int(((next() >> 32) &* UInt64(count)) >> 32)
    }

    /// True with probability `probability`.
    public mutating func chance(_ probability: Double) -> Bool {
        unit() < probability
    }

    /// One element of a non-empty array, uniformly.
    public mutating func pick<Element>(_ elements: [Element]) -> Element {
        elements[index(below: elements.count)]
    }

    /// A standard normal draw (Box–Muller on two uniforms; used only for degradations, not for the world).
    public mutating func normal() -> Double {
        let u = 1 - unit()
        let v = unit()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }
}
