// 16-float vectors through clang's vector extensions, and e^x, the logistic, erf and GELU over them. Each exported
// kernel is compiled once per instruction set (SPM_CLONES); these helpers are inlined into every version.
#ifndef SPM_VECTOR_MATH_H
#define SPM_VECTOR_MATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// Every version must give the same bits, so no multiply-add is fused where the source does not ask for it.
#pragma clang fp contract(off)

#if defined(__x86_64__) && defined(__ELF__)
// AVX-512 (x86-64-v4), AVX2 with FMA (x86-64-v3), and the baseline; glibc's ifunc picks one at load time.
#define SPM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SPM_CLONES
#endif

typedef float v16f __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));
// The same vector at any float's address, for unaligned loads and stores.
typedef float v16f_unaligned __attribute__((vector_size(64), aligned(4)));

// Vectors cross no function boundary below (macros, or pointers into always-inlined functions): a vector
// argument's ABI would differ between the versions compiled for different instruction sets.
#define SPLAT(x) ((v16f){0} + (float)(x))
#define LOAD(p) ((v16f)(*(const v16f_unaligned *)(p)))
#define STORE(p, v) (*(v16f_unaligned *)(p) = (v))
/// mask ? a : b, lane by lane (a mask lane is all ones or all zeros, as comparisons make them).
#define SELECT(mask, a, b) ((v16f)(((mask) & (v16i)(a)) | (~(mask) & (v16i)(b))))

/// The first `count` (< 16) floats at `p`, the other lanes `fill`.
static inline __attribute__((always_inline)) void load_partial(v16f *v, const float *p, size_t count, float fill) {
    float lanes[16];
    for (size_t i = 0; i < 16; i++) lanes[i] = i < count ? p[i] : fill;
    memcpy(v, lanes, sizeof lanes);
}

/// Writes the first `count` (< 16) lanes of `v` to `p`.
static inline __attribute__((always_inline)) void store_partial(float *p, const v16f *v, size_t count) {
    for (size_t i = 0; i < count; i++) p[i] = (*v)[i];
}

static inline __attribute__((always_inline)) float largest_lane(const v16f *v) {
    float largest = (*v)[0];
    for (int i = 1; i < 16; i++) if ((*v)[i] > largest) largest = (*v)[i];
    return largest;
}

static inline __attribute__((always_inline)) double sum_lanes(const v16f *v) {
    double total = 0;
    for (int i = 0; i < 16; i++) total += (*v)[i];
    return total;
}

/// x ← e^x, within 2 ulp over the whole float range (overflow to +∞, gradual underflow, NaN in → NaN out):
/// Cody–Waite reduction x = n·ln 2 + r with |r| ≤ ln 2 / 2, Cephes' degree-6 polynomial for e^r, then a scale by
/// 2ⁿ done as two multiplications by 2^(n/2) so that subnormal results come out right.
static inline __attribute__((always_inline)) void exponential(v16f *value) {
    const v16f x = *value;
    // Below −104, e^x is under half the smallest subnormal; above 88.73 it exceeds the largest float.
    v16f c = SELECT(x < -104.0f, SPLAT(-104.0f), x);
    c = SELECT(c > 88.73f, SPLAT(88.73f), c);
    // n = round(x / ln 2): adding 1.5·2²³ rounds to an integer and leaves n in the low bits of the sum's bit
    // pattern (0x4B40_0000 + n).
    const v16f shifted = c * 1.44269504088896341f + 12582912.0f;
    const v16f n = shifted - 12582912.0f;
    const v16f r = c - n * 0.693359375f - n * -2.12194440e-4f;  // ln 2 split so n · 0.693359375 is exact
    v16f p = SPLAT(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const v16f mantissa = p * (r * r) + r + 1;
    // 2^k as a float has the bit pattern (k + 127) << 23.
    const v16i k = (v16i)shifted - 0x4B400000;
    const v16i half = k >> 1;
    const v16f low = (v16f)((half + 127) << 23);
    const v16f high = (v16f)((k - half + 127) << 23);
    *value = SELECT(x != x, x, mantissa * low * high);
}

/// The 16 lanes of `v` rounded to the nearest bfloat16, ties to even, on the bits (the rounding of oneDNN's
/// reorders, PyTorch's `.to(torch.bfloat16)` and AVX-512 BF16's vcvtneps2bf16), written to `out`. A NaN keeps its
/// sign and becomes a quiet NaN: adding the rounding bias to its bits could carry it into an infinity.
static inline __attribute__((always_inline)) void store_bfloat16(uint16_t *out, const v16f *v) {
    typedef short v16s __attribute__((vector_size(32)));
    const v16i bits = (v16i)*v;
    const v16i rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16;
    const v16i quietNaN = (bits >> 16) | 0x0040;
    const v16i isNaN = (bits & 0x7FFFFFFF) > 0x7F800000;
    const v16s halves = __builtin_convertvector((isNaN & quietNaN) | (~isNaN & rounded), v16s);
    memcpy(out, &halves, sizeof halves);
}

/// x ← 1 / (1 + e^(−x)), through e^(−|x|) so nothing overflows.
static inline __attribute__((always_inline)) void logistic(v16f *value) {
    const v16f x = *value;
    v16f e = (v16f)((v16i)x | (int)0x80000000);  // −|x|
    exponential(&e);
    const v16f positive = 1 / (1 + e);
    *value = SELECT(x < 0, e * positive, positive);
}

/// x ← erf(x) by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7), the formula PyTorch's vectorised CPU
/// kernels use for GELU: erf(|x|) = 1 − t·(a₁ + a₂t + … + a₅t⁴)·e^(−x²), t = 1 / (1 + p|x|).
static inline __attribute__((always_inline)) void error_function(v16f *value) {
    const v16f x = *value;
    const v16f a = (v16f)((v16i)x & 0x7FFFFFFF);
    const v16f t = 1 / (1 + 0.3275911f * a);
    v16f r = SPLAT(1.061405429f);
    r = r * t - 1.453152027f;
    r = r * t + 1.421413741f;
    r = r * t - 0.284496736f;
    r = r * t + 0.254829592f;
    v16f e = -(a * a);
    exponential(&e);
    const v16f positive = 1 - r * t * e;
    *value = SELECT(x < 0, -positive, positive);
}

/// x ← GELU with the error function, x·Φ(x) = ½x·(1 + erf(x/√2)) (PyTorch's approximate="none").
static inline __attribute__((always_inline)) void gelu(v16f *value) {
    const v16f x = *value;
    v16f e = x * 0.70710678118654752f;
    error_function(&e);
    *value = 0.5f * x * (1 + e);
}

/// x ← d/dx x·Φ(x) = Φ(x) + x·φ(x).
static inline __attribute__((always_inline)) void gelu_derivative(v16f *value) {
    const v16f x = *value;
    v16f e = x * 0.70710678118654752f;
    error_function(&e);
    v16f density = -0.5f * x * x;
    exponential(&density);
    *value = 0.5f * (1 + e) + x * 0.39894228040143268f * density;
}

/// SiLU's derivative at y: σ(y)·(1 + y·(1 − σ(y))).
static inline __attribute__((always_inline)) void silu_derivative(v16f *value) {
    const v16f y = *value;
    v16f s = y;
    logistic(&s);
    *value = s * (1 + y * (1 - s));
}

#endif
