/// Scalar transcriptions of the Cephes-style `log256_ps` and `sincos256_ps` from PyTorch's
/// `aten/src/ATen/native/cpu/avx_mathfun.h` (after Julien Pommier's sse_mathfun, zlib licence), which
/// `torch.randn` uses on AVX2/AVX-512 CPUs. Each lane operation is reproduced in order with the same rounding.
/// PyTorch's wheels are built by GCC with `-mfma` and its default `-ffp-contract=fast`, which fuses a multiply
/// into the add or subtract that consumes it; the fused spots below (`addingProduct`) are the ones GCC's code
/// for this header has, and only with them do the bits match torch's. Not a general-purpose log/sin: accurate
/// only for the arguments Box–Muller gives them ((0, 1] and [0, 2π)).
enum AVXMathFun {
    // The C source initialises float arrays from double literals: convert through Double to round the same way.
    private static let sqrtHalf = Float(0.707106781186547524 as Double)
    private static let logP: [Float] = [
        7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
        -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1,
    ].map { (value: Double) in Float(value) }
    private static let logQ1 = Float(-2.12194440e-4 as Double)
    private static let logQ2 = Float(0.693359375 as Double)

    private static let fourOverPi = Float(1.27323954473516 as Double)
    private static let minusDP1 = Float(-0.78515625 as Double)
    private static let minusDP2 = Float(-2.4187564849853515625e-4 as Double)
    private static let minusDP3 = Float(-3.77489497744594108e-8 as Double)
    private static let sinP: [Float] = [-1.9515295891E-4, 8.3321608736E-3, -1.6666654611E-1]
        .map { (value: Double) in Float(value) }
    private static let cosP: [Float] = [2.443315711809948E-005, -1.388731625493765E-003, 4.166664568298827E-002]
        .map { (value: Double) in Float(value) }

    /// `log256_ps` for one lane.
    static func log(_ input: Float) -> Float {
        let invalid = input <= 0
        var x = max(input, Float(bitPattern: 0x0080_0000))  // cut off denormals
        let exponentBits = Int32(bitPattern: x.bitPattern >> 23)
        x = Float(bitPattern: (x.bitPattern & ~UInt32(0x7F80_0000)) | Float(0.5).bitPattern)
        var e = Float(exponentBits - 0x7F)
        e = e + 1
        let below = x < sqrtHalf
        let tmp: Float = below ? x : 0
        x = x - 1
        e = e - (below ? 1 : 0)
        x = x + tmp

        let z = x * x
        var y = logP[0]
        for coefficient in logP.dropFirst() {
            y = coefficient.addingProduct(y, x)
        }
        y = y * x
        y = (e * logQ1).addingProduct(y, z)
        y = y.addingProduct(-z, 0.5)
        x = x + y
        x = x.addingProduct(e, logQ2)
        return invalid ? Float(bitPattern: x.bitPattern | 0xFFFF_FFFF) : x
    }

    /// `sincos256_ps` for one lane: (sine, cosine).
    static func sincos(_ input: Float) -> (sin: Float, cos: Float) {
        var signSin = input.bitPattern & 0x8000_0000
        var x = Float(bitPattern: input.bitPattern & 0x7FFF_FFFF)
        var y = x * fourOverPi
        var octant = Int32(y)  // cvttps: truncation
        octant = (octant &+ 1) & ~1
        y = Float(octant)
        let swapSignSin = UInt32(bitPattern: (octant & 4) << 29)
        let useSinPolynomial = octant & 2 == 0

        // Extended-precision modular arithmetic: x = ((x - y·DP1) - y·DP2) - y·DP3.
        x = x.addingProduct(y, minusDP1)
        x = x.addingProduct(y, minusDP2)
        x = x.addingProduct(y, minusDP3)

        let signCos = UInt32(bitPattern: (~(octant &- 2) & 4) << 29)
        signSin ^= swapSignSin

        let z = x * x
        let halfZ = z * 0.5
        var cosPoly = cosP[1].addingProduct(cosP[0], z)
        cosPoly = cosP[2].addingProduct(cosPoly, z)
        cosPoly = cosPoly * z
        cosPoly = (-halfZ).addingProduct(z, cosPoly)
        cosPoly = cosPoly + 1

        var sinPoly = sinP[1].addingProduct(sinP[0], z)
        sinPoly = sinP[2].addingProduct(sinPoly, z)
        sinPoly = sinPoly * z
        sinPoly = x.addingProduct(x, sinPoly)

        // The SIMD select: masked-out lanes are +0, and the sums below keep the same signed-zero behaviour.
        let sinFromSin: Float = useSinPolynomial ? sinPoly : 0
        let sinFromCos: Float = useSinPolynomial ? 0 : cosPoly
        let cosFromSin = sinPoly - sinFromSin
        let cosFromCos = cosPoly - sinFromCos
        let sine = sinFromCos + sinFromSin
        let cosine = cosFromCos + cosFromSin
        return (Float(bitPattern: sine.bitPattern ^ signSin), Float(bitPattern: cosine.bitPattern ^ signCos))
    }
}
