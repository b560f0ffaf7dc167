// Helpers for the engine's own vector loops over floats, 16 at a time. The exponential-bound kernels (softmax,
// SiLU, GELU, sigmoid, e^x) are C (CKernels), compiled for each instruction set: Swift builds for the baseline
// x86-64 and called such a SIMD closure out of line per vector (a softmax row: 3.6 ns per element, against 0.6).

typealias FloatVector = SIMD16<Float>

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
