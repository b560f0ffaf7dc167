// e^x for 16 floats at once, for the ops that spend their time in exponentials (sigmoid, SiLU, GELU; softmax
// runs in the C kernels of CKernels, compiled per instruction set, because it is the hottest of them):
// calling libm's expf once per element costs 10–20 ns, this about 1 ns. Accuracy is within 2 ulp of the exact
// value over the whole float range, including overflow to +∞, gradual underflow to subnormals and 0, and NaN.

typealias FloatVector = SIMD16<Float>

/// e^x elementwise. Cody–Waite reduction x = n·ln 2 + r with |r| ≤ ln 2 / 2, Cephes' degree-6 polynomial for
/// e^r, then a scale by 2ⁿ done as two multiplications by 2^(n/2) so that subnormal results come out right.
@inline(__always)
func exponential(_ x: FloatVector) -> FloatVector {
    // Below −104, e^x is under half the smallest subnormal; above 88.73 it exceeds Float.greatestFiniteMagnitude.
    // (Comparisons with `replacing` compile to vector compares and blends; SIMD's `clamped` and `rounded` are
    // scalarised, one lane at a time.)
    let clamped = x.replacing(with: -104, where: x .< -104).replacing(with: 88.73, where: x .> 88.73)
    // n = round(x / ln 2): adding 1.5·2²³ rounds to an integer and leaves n in the low bits of the sum's bit
    // pattern (0x4B40_0000 + n), so no float-to-int conversion is needed either.
    let shifted = clamped * 1.44269504088896341 + 12_582_912
    let n = shifted - 12_582_912
    let r = clamped - n * 0.693359375 - n * -2.12194440e-4  // ln 2 split so n · 0.693359375 is exact
    var p = FloatVector(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let mantissa = p * (r * r) + r + 1
    // 2^k as a float has the bit pattern (k + 127) << 23.
    let integerBits = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
    let half = integerBits &>> 1
    let scaleLow = unsafeBitCast((half &+ 127) &<< 23, to: FloatVector.self)
    let scaleHigh = unsafeBitCast((integerBits &- half &+ 127) &<< 23, to: FloatVector.self)
    let result = mantissa * scaleLow * scaleHigh
    return result.replacing(with: x, where: x .!= x)  // NaN in, NaN out
}

/// 1 / (1 + e^(−x)) elementwise, via e^(−|x|) so nothing overflows.
@inline(__always)
func logistic(_ x: FloatVector) -> FloatVector {
    let e = exponential(-magnitude(x))
    let positive = 1 / (1 + e)
    return positive.replacing(with: e * positive, where: x .< 0)
}

/// erf(x) elementwise by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7), the formula PyTorch's own
/// vectorised CPU kernels use for GELU: erf(|x|) = 1 − t·(a₁ + a₂t + … + a₅t⁴)·e^(−x²), t = 1 / (1 + p|x|).
@inline(__always)
func errorFunction(_ x: FloatVector) -> FloatVector {
    let a = magnitude(x)
    let t = 1 / (1 + 0.3275911 * a)
    var r = FloatVector(repeating: 1.061405429)
    r = r * t - 1.453152027
    r = r * t + 1.421413741
    r = r * t - 0.284496736
    r = r * t + 0.254829592
    let positive = 1 - r * t * exponential(-(a * a))
    return positive.replacing(with: -positive, where: x .< 0)
}

/// GELU with the error function, x·Φ(x) = ½x·(1 + erf(x/√2)) (PyTorch's approximate="none").
@inline(__always)
func erfGELU(_ x: FloatVector) -> FloatVector {
    0.5 * x * (1 + errorFunction(x * 0.70710678118654752))
}

/// d/dx x·Φ(x) = Φ(x) + x·φ(x).
@inline(__always)
func erfGELUDerivative(_ x: FloatVector) -> FloatVector {
    0.5 * (1 + errorFunction(x * 0.70710678118654752)) + x * 0.39894228040143268 * exponential(-0.5 * x * x)
}

/// Applies `transform` to pairs of floats from `first` and `second` into `output`, 16 at a time (the last
/// partial vector padded with zeros).
@inline(__always)
func transformVectorPairs(_ first: UnsafePointer<Float>, _ second: UnsafePointer<Float>,
                          _ output: UnsafeMutablePointer<Float>, count: Int,
                          _ transform: (FloatVector, FloatVector) -> FloatVector) {
    let width = FloatVector.scalarCount
    var i = 0
    while i + width <= count {
        let a = UnsafeRawPointer(first + i).loadUnaligned(as: FloatVector.self)
        let b = UnsafeRawPointer(second + i).loadUnaligned(as: FloatVector.self)
        UnsafeMutableRawPointer(output + i).storeBytes(of: transform(a, b), as: FloatVector.self)
        i += width
    }
    guard i < count else { return }
    var (a, b) = (FloatVector(repeating: 0), FloatVector(repeating: 0))
    for lane in 0..<(count - i) { a[lane] = first[i + lane]; b[lane] = second[i + lane] }
    let result = transform(a, b)
    for lane in 0..<(count - i) { output[i + lane] = result[lane] }
}

@inline(__always)
private func magnitude(_ x: FloatVector) -> FloatVector {
    unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: FloatVector.self)
}

/// Applies `transform` to `count` floats from `input` into `output` (which may be the same memory), 16 at a
/// time; the last partial vector is padded with zeros.
@inline(__always)
func transformVectors(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int,
                      _ transform: (FloatVector) -> FloatVector) {
    let width = FloatVector.scalarCount
    var i = 0
    while i + width <= count {
        let value = UnsafeRawPointer(input + i).loadUnaligned(as: FloatVector.self)
        UnsafeMutableRawPointer(output + i).storeBytes(of: transform(value), as: FloatVector.self)
        i += width
    }
    guard i < count else { return }
    var tail = FloatVector(repeating: 0)
    for lane in 0..<(count - i) { tail[lane] = input[i + lane] }
    let result = transform(tail)
    for lane in 0..<(count - i) { output[i + lane] = result[lane] }
}

/// The largest of `count` floats, ignoring NaN (−∞ for an empty or all-NaN row). For softmax's shift, where
/// any NaN in the row turns the whole result NaN anyway.
@inline(__always)
func largestValue(_ row: UnsafePointer<Float>, count: Int) -> Float {
    let width = FloatVector.scalarCount
    var lanes = FloatVector(repeating: -.infinity)
    var i = 0
    while i + width <= count {
        let value = UnsafeRawPointer(row + i).loadUnaligned(as: FloatVector.self)
        lanes = lanes.replacing(with: value, where: value .> lanes)
        i += width
    }
    var largest = lanes.max()
    while i < count {
        if row[i] > largest { largest = row[i] }
        i += 1
    }
    return largest
}
