/// The SVD of a low-rank product ΔW = s · U · D (U: out × R, D: R × in, R small) without forming ΔW.
///
/// With U = Q_u·R_u and Dᵀ = Q_d·R_d (thin QR), ΔW = Q_u · (s·R_u·R_dᵀ) · Q_dᵀ, so the singular values of ΔW are those
/// of the R × R core, whose SVD one-sided Jacobi computes to full accuracy. Everything runs in Double.
struct LowRankSVD {
    let outFeatures: Int
    let inFeatures: Int
    let rank: Int
    /// Singular values, descending.
    private(set) var singularValues: [Double] = []
    /// ΔW = left · diag(σ) · rightᵀ; left is out × R, right is in × R (column j = j-th singular vector), row-major.
    private var left: [Double] = []
    private var right: [Double] = []

    init(up: [Float], down: [Float], scale: Double, rank: Int, outFeatures: Int, inFeatures: Int) {
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.rank = rank
        let (qUp, rUp) = Self.thinQR(up.map(Double.init), rows: outFeatures, columns: rank)
        // Dᵀ (in × R), row-major.
        var downTransposed = [Double](repeating: 0, count: inFeatures * rank)
        for k in 0..<rank { for j in 0..<inFeatures { downTransposed[j * rank + k] = Double(down[k * inFeatures + j]) } }
        let (qDown, rDown) = Self.thinQR(downTransposed, rows: inFeatures, columns: rank)
        var core = [Double](repeating: 0, count: rank * rank)
        for i in 0..<rank {
            for j in 0..<rank {
                var sum = 0.0
                for k in 0..<rank { sum += rUp[i * rank + k] * rDown[j * rank + k] }
                core[i * rank + j] = scale * sum
            }
        }
        let (coreLeft, sigma, coreRight) = Self.jacobiSVD(core, size: rank)
        singularValues = sigma
        left = Self.multiply(qUp, rows: outFeatures, inner: rank, coreLeft, columns: rank)
        right = Self.multiply(qDown, rows: inFeatures, inner: rank, coreRight, columns: rank)
    }

    /// ‖ΔW − ΔW_K‖_F / ‖ΔW‖_F: the dropped singular values' share.
    func relativeError(keeping k: Int) -> Double {
        let total = singularValues.reduce(0) { $0 + $1 * $1 }
        guard total > 0 else { return 0 }
        let dropped = singularValues.dropFirst(k).reduce(0) { $0 + $1 * $1 }
        return (dropped / total).squareRoot()
    }

    /// Factors of the best rank-k approximation with scale 1: up (out × k) = left·√σ, down (k × in) = √σ·rightᵀ.
    func factors(rank k: Int) -> (up: [Float], down: [Float]) {
        var up = [Float](repeating: 0, count: outFeatures * k)
        var down = [Float](repeating: 0, count: k * inFeatures)
        for j in 0..<k {
            let root = singularValues[j].squareRoot()
            for row in 0..<outFeatures { up[row * k + j] = Float(left[row * rank + j] * root) }
            for column in 0..<inFeatures { down[j * inFeatures + column] = Float(right[column * rank + j] * root) }
        }
        return (up, down)
    }

    /// Modified Gram–Schmidt, twice per column for orthogonality. A column with nothing left after projection
    /// gets a zero Q column and a zero R row, which keeps A = Q·R and the core's singular values exact.
    static func thinQR(_ a: [Double], rows: Int, columns: Int) -> (q: [Double], r: [Double]) {
        var q = a
        var r = [Double](repeating: 0, count: columns * columns)
        for j in 0..<columns {
            var original = 0.0
            for row in 0..<rows { original += q[row * columns + j] * q[row * columns + j] }
            for _ in 0..<2 {
                for i in 0..<j {
                    var dot = 0.0
                    for row in 0..<rows { dot += q[row * columns + i] * q[row * columns + j] }
                    r[i * columns + j] += dot
                    for row in 0..<rows { q[row * columns + j] -= dot * q[row * columns + i] }
                }
            }
            var norm = 0.0
            for row in 0..<rows { norm += q[row * columns + j] * q[row * columns + j] }
            norm = norm.squareRoot()
            if norm <= 1e-13 * original.squareRoot() || norm == 0 {
                for row in 0..<rows { q[row * columns + j] = 0 }
                r[j * columns + j] = 0
            } else {
                r[j * columns + j] = norm
                for row in 0..<rows { q[row * columns + j] /= norm }
            }
        }
        return (q, r)
    }

    /// One-sided (Hestenes) Jacobi SVD of a square matrix: columns are rotated until orthogonal; their norms are the
    /// singular values. Returns U, σ (descending) and V with A = U·diag(σ)·Vᵀ, all row-major.
    static func jacobiSVD(_ matrix: [Double], size n: Int) -> (u: [Double], sigma: [Double], v: [Double]) {
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        for _ in 0..<60 {
            var rotated = false
            for p in 0..<n {
                for q in (p + 1)..<max(n, p + 1) {
                    var alpha = 0.0, beta = 0.0, gamma = 0.0
                    for row in 0..<n {
                        let x = a[row * n + p], y = a[row * n + q]
                        alpha += x * x
                        beta += y * y
                        gamma += x * y
                    }
                    guard abs(gamma) > 1e-15 * (alpha * beta).squareRoot(), gamma != 0 else { continue }
                    rotated = true
                    let zeta = (beta - alpha) / (2 * gamma)
                    let t = (zeta >= 0 ? 1.0 : -1.0) / (abs(zeta) + (1 + zeta * zeta).squareRoot())
                    let c = 1 / (1 + t * t).squareRoot(), s = c * t
                    for row in 0..<n {
                        let x = a[row * n + p], y = a[row * n + q]
                        a[row * n + p] = c * x - s * y
                        a[row * n + q] = s * x + c * y
                        let vx = v[row * n + p], vy = v[row * n + q]
                        v[row * n + p] = c * vx - s * vy
                        v[row * n + q] = s * vx + c * vy
                    }
                }
            }
            if !rotated { break }
        }
        var sigma = [Double](repeating: 0, count: n)
        for j in 0..<n {
            var norm = 0.0
            for row in 0..<n { norm += a[row * n + j] * a[row * n + j] }
            sigma[j] = norm.squareRoot()
        }
        let order = (0..<n).sorted { sigma[$0] > sigma[$1] }
        var u = [Double](repeating: 0, count: n * n)
        var vSorted = [Double](repeating: 0, count: n * n)
        for (newIndex, old) in order.enumerated() {
            for row in 0..<n {
                u[row * n + newIndex] = sigma[old] > 0 ? a[row * n + old] / sigma[old] : 0
                vSorted[row * n + newIndex] = v[row * n + old]
            }
        }
        return (u, order.map { sigma[$0] }, vSorted)
    }

    /// (rows × inner) · (inner × columns), row-major.
    static func multiply(_ a: [Double], rows: Int, inner: Int, _ b: [Double], columns: Int) -> [Double] {
        var c = [Double](repeating: 0, count: rows * columns)
        for i in 0..<rows {
            for k in 0..<inner {
                let x = a[i * inner + k]
                if x == 0 { continue }
                for j in 0..<columns { c[i * columns + j] += x * b[k * columns + j] }
            }
        }
        return c
    }
}
