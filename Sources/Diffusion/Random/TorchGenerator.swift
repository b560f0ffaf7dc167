import Foundation

/// PyTorch's CPU random generator, reproduced bit for bit: `torch.Generator().manual_seed(seed)` followed by
/// `torch.randn`, `torch.rand` or `torch.randint` calls gives the same numbers here, in the same order, so a seed
/// gives the initial latents diffusers (and ComfyUI) give with a CPU generator.
///
/// The engine is PyTorch's `at::mt19937` (the reference mt19937 with 32-bit state words, seeded from the low 32
/// bits of the seed). Like PyTorch's generator the state advances across calls, and the small-size normal path
/// caches the second Box–Muller value in the generator, exactly where PyTorch keeps it.
public struct TorchGenerator: Sendable {
    /// Which of PyTorch's float32 Box–Muller kernels to reproduce for `randn` of 16 or more elements. The
    /// choice is PyTorch's, made from the CPU it runs on, and the two differ in the last bits.
    public enum NormalKernel: Sendable {
        /// x86-64 PyTorch on a CPU with AVX2 or AVX-512 (nearly every x86 machine since 2015): the
        /// `avx_mathfun` log/sincos approximations.
        case vectorized
        /// PyTorch without the AVX2 kernels (`ATEN_CPU_CAPABILITY=default`, older x86): the C library's
        /// `logf`/`cosf`/`sinf`. Bit-identical where the C library is glibc's, as under Linux PyTorch.
        case scalar
    }

    private static let stateSize = 624
    private static let shiftSize = 397

    private var state: [UInt32]
    private var next = 0
    private var left = 1
    /// `CPUGeneratorImpl::next_double_normal_sample_`: the sine half of the last double Box–Muller pair.
    private var cachedNormal: Double?
    public let normalKernel: NormalKernel

    /// `torch.manual_seed(seed)`: PyTorch keeps the whole 64-bit seed but its mt19937 uses only the low 32 bits.
    public init(seed: UInt64, normalKernel: NormalKernel = .vectorized) {
        self.normalKernel = normalKernel
        var words = [UInt32](repeating: 0, count: Self.stateSize)
        words[0] = UInt32(truncatingIfNeeded: seed)
        for j in 1..<Self.stateSize {
            let previous = words[j - 1]
            words[j] = 1_812_433_253 &* (previous ^ (previous >> 30)) &+ UInt32(j)
        }
        state = words
    }

    // MARK: Raw draws

    /// `CPUGeneratorImpl::random()`: one tempered mt19937 output.
    public mutating func nextUInt32() -> UInt32 {
        left -= 1
        if left == 0 { regenerate() }
        var y = state[next]
        next += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// `CPUGeneratorImpl::random64()`: two draws, the first in the high half.
    public mutating func nextUInt64() -> UInt64 {
        let high = UInt64(nextUInt32())
        let low = UInt64(nextUInt32())
        return high << 32 | low
    }

    private mutating func regenerate() {
        let n = Self.stateSize, m = Self.shiftSize
        func twist(_ u: UInt32, _ v: UInt32) -> UInt32 {
            let mixed = (u & 0x8000_0000) | (v & 0x7FFF_FFFF)
            return (mixed >> 1) ^ (v & 1 == 1 ? 0x9908_B0DF : 0)
        }
        state.withUnsafeMutableBufferPointer { s in
            for j in 0..<(n - m) { s[j] = s[j + m] ^ twist(s[j], s[j + 1]) }
            for j in (n - m)..<(n - 1) { s[j] = s[j + m - n] ^ twist(s[j], s[j + 1]) }
            s[n - 1] = s[m - 1] ^ twist(s[n - 1], s[0])
        }
        left = n
        next = 0
    }

    // MARK: Uniform

    /// `uniform_real_distribution<float>(0, 1)`: 24 random bits scaled by 2⁻²⁴ (exact in Float).
    private mutating func uniformFloat() -> Float {
        Float(nextUInt32() & 0xFF_FFFF) * 0x1p-24
    }

    /// `uniform_real_distribution<double>(0, 1)`: 53 bits of a 64-bit draw scaled by 2⁻⁵³.
    private mutating func uniformDouble() -> Double {
        Double(nextUInt64() & 0x1F_FFFF_FFFF_FFFF) * 0x1p-53
    }

    /// `torch.rand(count, generator:)` in float32.
    public mutating func rand(count: Int) -> [Float] {
        (0..<count).map { _ in uniformFloat() }
    }

    /// `torch.rand(count, generator:, dtype: torch.float64)`.
    public mutating func randDouble(count: Int) -> [Double] {
        (0..<count).map { _ in uniformDouble() }
    }

    /// `torch.randint(low, high, (count,), generator:)` (int64). Ranges of 2²⁸ or more use a 64-bit draw, as
    /// PyTorch does; the modulo skew is PyTorch's too.
    public mutating func randint(low: Int64, high: Int64, count: Int) -> [Int64] {
        precondition(high > low, "randint needs high > low")
        let range = UInt64(bitPattern: high &- low)
        return (0..<count).map { _ in
            let draw = range >= 1 << 28 ? nextUInt64() : UInt64(nextUInt32())
            return Int64(bitPattern: draw % range &+ UInt64(bitPattern: low))
        }
    }

    // MARK: Normal

    /// `torch.randn(count, generator:)` in float32 for a contiguous tensor of `count` elements (any shape: only the
    /// element count matters).
    ///
    /// From 16 elements on, PyTorch fills the buffer with uniforms, then turns each block of 16 into normals with
    /// an 8-wide Box–Muller (element j pairs with j + 8) using the AVX2 `avx_mathfun` log/sincos approximations;
    /// a ragged tail redraws 16 fresh uniforms for the last 16 slots. Below 16 it draws doubles one at a time.
    public mutating func randn(count: Int) -> [Float] {
        guard count >= 16 else {
            return (0..<count).map { _ in Float(nextNormalDouble()) }
        }
        let boxMuller16 = normalKernel == .vectorized ? Self.vectorizedBoxMuller16 : Self.scalarBoxMuller16
        var data = [Float](repeating: 0, count: count)
        data.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<count { buffer[i] = uniformFloat() }
            var start = 0
            while start + 16 <= count {
                boxMuller16(buffer, start)
                start += 16
            }
            if count % 16 != 0 {
                let tail = count - 16
                for i in tail..<count { buffer[i] = uniformFloat() }
                boxMuller16(buffer, tail)
            }
        }
        return data
    }

    /// `normal_distribution<double>(0, 1)` with PyTorch's cached second value.
    private mutating func nextNormalDouble() -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached
        }
        let u1 = uniformDouble()
        let u2 = uniformDouble()
        let radius = (-2.0 * Foundation.log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        cachedNormal = radius * Foundation.sin(theta)
        return radius * Foundation.cos(theta)
    }

    /// `NormalFill16<float>` (AVX2 specialisation), lane by lane.
    private static func vectorizedBoxMuller16(_ data: UnsafeMutableBufferPointer<Float>, _ start: Int) {
        let twoPi = Float(2.0 * Double.pi)
        for j in start..<(start + 8) {
            let u1 = 1 - data[j]
            let u2 = data[j + 8]
            let radius = (-2 * AVXMathFun.log(u1)).squareRoot()
            let (sine, cosine) = AVXMathFun.sincos(twoPi * u2)
            // PyTorch stores fma(n, std, mean) with std 1, mean 0: that is n + 0, which turns -0 into +0.
            data[j] = radius * cosine + 0
            data[j + 8] = radius * sine + 0
        }
    }

    /// `NormalFill16<float>` (the portable template): float logf/cosf/sinf, θ rounded from a double product.
    private static func scalarBoxMuller16(_ data: UnsafeMutableBufferPointer<Float>, _ start: Int) {
        for j in start..<(start + 8) {
            let u1 = 1 - data[j]
            let u2 = data[j + 8]
            let radius = (-2 * Foundation.log(u1)).squareRoot()
            let theta = Float(2.0 * Double.pi * Double(u2))
            data[j] = radius * Foundation.cos(theta) + 0
            data[j + 8] = radius * Foundation.sin(theta) + 0
        }
    }
}
