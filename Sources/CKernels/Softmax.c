#include <stdint.h>

#include "CKernels.h"
#include "VectorMath.h"

#define FMA(a, b, c) __builtin_elementwise_fma((a), (b), (c))

/// x ← 2^x for x ≤ 0, what softmax's shifted scores are once the caller folds log₂ e into its scale: n = round(x),
/// f = x − n in [−½, ½], 2^f by a degree-5 polynomial (relative error under 1e-7, fitted by reweighted least squares
/// to be near minimax), and 2ⁿ added to the exponent bits. Seven multiply-adds for 16 values where `exponential`
/// (e^x over the whole float range) spends twenty: a softmax's time is mostly its exponentials. The multiply-adds
/// are fused and written out, so every version rounds alike (the baseline's through fmaf). Below −125 the result
/// is under 2⁻¹²⁵, and 0 here (no subnormals), which no sum over a row that holds its maximum's 2⁰ = 1 can tell.
/// A NaN gives a meaningless number: the callers find a row's NaNs first.
static inline __attribute__((always_inline)) void power_of_two_of_nonpositive(v16f *value) {
    const v16f x = *value;
    // Adding 1.5·2²³ rounds to an integer and leaves n in the low bits of the sum's bit pattern.
    const v16f shifted = x + 12582912.0f;
    const v16f f = x - (shifted - 12582912.0f);
    v16f p = SPLAT(1.3242363614e-3f);
    p = FMA(p, f, SPLAT(9.6715358881e-3f));
    p = FMA(p, f, SPLAT(5.5508109254e-2f));
    p = FMA(p, f, SPLAT(2.4022241569e-1f));
    p = FMA(p, f, SPLAT(6.9314691878e-1f));
    p = FMA(p, f, SPLAT(1.0f));
    // 2ⁿ·p by adding n to the exponent bits (n ≥ −125 where it counts, so the result is a normal float); shifting
    // the sum's bits left by 23 leaves exactly n << 23.
    const v16f scaled = (v16f)((v16i)p + ((v16i)shifted << 23));
    *value = (v16f)((v16i)scaled & ~(x < -125.0f));
}

/// The largest of a row's `count` (≥ 1) entries, or NaN where the row's softmax is NaN: an entry is NaN, one is +∞
/// (∞ − ∞), or none is above −∞ (a fully masked row, −∞ − (−∞)).
static inline __attribute__((always_inline)) float softmax_shift(const float *row, size_t count) {
    v16f lanes = SPLAT(-INFINITY);
    v16i unordered = {0};
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        const v16f x = LOAD(row + i);
        lanes = SELECT(x > lanes, x, lanes);
        unordered |= x != x;
    }
    float largest = largest_lane(&lanes);
    int sawNaN = 0;
    for (int lane = 0; lane < 16; lane++) sawNaN |= unordered[lane];
    for (; i < count; i++) {
        if (row[i] > largest) largest = row[i];
        sawNaN |= row[i] != row[i];
    }
    return sawNaN || isinf(largest) ? NAN : largest;
}

/// e^(scale·(x − largest)) of a row's `count` entries, written to `out` (may be the row itself) or rounded to bf16
/// into `out16`, whichever is not NULL; returns their sum. Lanes add up at most 64 terms in float before they join
/// a double total, so long rows lose no precision to the sum.
static inline __attribute__((always_inline)) double softmax_numerators(const float *row, float *out, uint16_t *out16,
                                                                      size_t count, float scale, float largest) {
    // e^(scale·(x − largest)) = 2^(x·scale·log₂e − largest·scale·log₂e)
    const float factor2 = scale * 1.44269504088896341f;
    const v16f factor = SPLAT(factor2), shift = SPLAT(-factor2 * largest);
    double total = 0;
    size_t i = 0;
    while (i + 16 <= count) {
        v16f block = SPLAT(0);
        for (const size_t end = i + 1024 < count ? i + 1024 : count; i + 16 <= end; i += 16) {
            v16f e = FMA(LOAD(row + i), factor, shift);
            power_of_two_of_nonpositive(&e);
            if (out) STORE(out + i, e);
            if (out16) store_bfloat16(out16 + i, &e);
            block += e;
        }
        total += sum_lanes(&block);
    }
    if (i < count) {
        const size_t rest = count - i;
        v16f e;
        load_partial(&e, row + i, rest, largest);
        e = FMA(e, factor, shift);
        power_of_two_of_nonpositive(&e);
        if (out) store_partial(out + i, &e, rest);
        if (out16) {
            uint16_t lanes[16];
            store_bfloat16(lanes, &e);
            memcpy(out16 + i, lanes, rest * sizeof *lanes);
        }
        for (size_t j = 0; j < rest; j++) total += e[j];
    }
    return total;
}

/// One row's numerators (in place, or to `out16` as bf16) over its first `valid` entries, the rest 0 (e^−∞);
/// returns 1 / their sum. A row whose softmax is NaN gets NaN numerators and a NaN normaliser.
static inline __attribute__((always_inline)) float softmax_row(float *row, uint16_t *out16, size_t length,
                                                               size_t valid, float scale) {
    const float largest = valid > 0 ? softmax_shift(row, valid) : NAN;
    float normaliser = NAN;
    if (largest != largest) {
        for (size_t i = 0; i < valid; i++) {
            if (out16) out16[i] = 0x7FC0; else row[i] = NAN;
        }
    } else {
        // Two calls, so that each inlined loop knows at compile time where it writes.
        const double total = out16 ? softmax_numerators(row, NULL, out16, valid, scale, largest)
                                   : softmax_numerators(row, row, NULL, valid, scale, largest);
        normaliser = (float)(1 / total);
    }
    if (out16) memset(out16 + valid, 0, (length - valid) * sizeof *out16);
    else memset(row + valid, 0, (length - valid) * sizeof *row);
    return normaliser;
}

/// How many of row r's entries a causal mask starting at query `causal` keeps (all of them when `causal` < 0).
static inline __attribute__((always_inline)) size_t unmasked(size_t r, size_t length, long causal) {
    return causal >= 0 && (size_t)causal + r + 1 < length ? (size_t)causal + r + 1 : length;
}

SPM_CLONES
void spm_softmax_numerators(float *rows, size_t count, size_t length, size_t leading, float scale, long causal,
                            uint16_t *out, float *normalisers) {
    for (size_t r = 0; r < count; r++) {
        normalisers[r] = softmax_row(rows + r * leading, out ? out + r * length : NULL, length,
                                     unmasked(r, length, causal), scale);
    }
}

SPM_CLONES
void spm_softmax_rows(float *rows, size_t count, size_t length, size_t leading, float scale, long causal) {
    for (size_t r = 0; r < count; r++) {
        float *row = rows + r * leading;
        const size_t valid = unmasked(r, length, causal);
        const float normaliser = softmax_row(row, NULL, length, valid, scale);
        const v16f n = SPLAT(normaliser);
        size_t i = 0;
        for (; i + 16 <= valid; i += 16) STORE(row + i, LOAD(row + i) * n);
        for (; i < valid; i++) row[i] *= normaliser;
    }
}

SPM_CLONES
void spm_softmax_backward_rows(const float *probabilities, float *gradient, const float *shift, size_t count,
                               size_t length, size_t leading, float scale) {
    for (size_t r = 0; r < count; r++) {
        const float *p = probabilities + r * leading;
        float *g = gradient + r * leading;
        const float s = shift[r];
        size_t i = 0;
        for (; i + 16 <= length; i += 16) STORE(g + i, LOAD(p + i) * (LOAD(g + i) - s) * scale);
        for (; i < length; i++) g[i] = p[i] * (g[i] - s) * scale;
    }
}

// Attention's backward for heads of a few dimensions (the tiny models' 4 to 16), where the GEMMs of the general
// backward have an inner or outer size of 4–16 and spend their time packing operands: one pass along the keys
// makes dV, dS and dK together, a second one along the queries makes dQ.

/// How many keys the first kernel takes at a time: their slices of kᵀ, vᵀ, dKᵀ and dVᵀ stay in L1 while the
/// block's rows go past.
#define KEY_TILE 128

static inline __attribute__((always_inline)) void key_gradients(
    float *probabilities, size_t rows, size_t key_stride, size_t first, size_t end, const float *output_gradient,
    size_t output_gradient_stride, const float *row_dots, const float *query, size_t query_stride,
    const float *value_t, size_t depth, size_t value_depth, float scale, float *key_gradient_t,
    float *value_gradient_t) {
    for (size_t tile = first; tile < end; tile += KEY_TILE) {
        const size_t tile_end = tile + KEY_TILE < end ? tile + KEY_TILE : end;
        for (size_t r = 0; r < rows; r++) {
            float *p = probabilities + r * key_stride;
            v16f dOs[16], qs[16];
            for (size_t e = 0; e < value_depth; e++) dOs[e] = SPLAT(output_gradient[r * output_gradient_stride + e]);
            for (size_t d = 0; d < depth; d++) qs[d] = SPLAT(query[r * query_stride + d]);
            const v16f dot = SPLAT(row_dots[r]), scales = SPLAT(scale);
            for (size_t j = tile; j < tile_end; j += 16) {
                const v16f pj = LOAD(p + j);
                v16f dP = SPLAT(0);
                for (size_t e = 0; e < value_depth; e++) {
                    dP = FMA(dOs[e], LOAD(value_t + e * key_stride + j), dP);
                    if (value_gradient_t) {
                        float *dV = value_gradient_t + e * key_stride + j;
                        STORE(dV, FMA(pj, dOs[e], LOAD(dV)));
                    }
                }
                const v16f dS = pj * scales * (dP - dot);
                STORE(p + j, dS);
                if (key_gradient_t) {
                    for (size_t d = 0; d < depth; d++) {
                        float *dK = key_gradient_t + d * key_stride + j;
                        STORE(dK, FMA(dS, qs[d], LOAD(dK)));
                    }
                }
            }
        }
    }
}

SPM_CLONES
void spm_attention_key_gradients(float *probabilities, size_t rows, size_t key_stride, size_t first, size_t end,
                                 const float *output_gradient, size_t output_gradient_stride, const float *row_dots,
                                 const float *query, size_t query_stride, const float *value_t, size_t depth,
                                 size_t value_depth, float scale, float *key_gradient_t, float *value_gradient_t) {
    // Constant depths let the compiler keep the broadcasts in registers and unroll the loops over them.
#define KEY_GRADIENTS(d, e)                                                                                         \
    key_gradients(probabilities, rows, key_stride, first, end, output_gradient, output_gradient_stride, row_dots, \
                  query, query_stride, value_t, d, e, scale, key_gradient_t, value_gradient_t)
    if (depth == 4 && value_depth == 4) KEY_GRADIENTS(4, 4);
    else if (depth == 8 && value_depth == 8) KEY_GRADIENTS(8, 8);
    else if (depth == 16 && value_depth == 16) KEY_GRADIENTS(16, 16);
    else KEY_GRADIENTS(depth, value_depth);
#undef KEY_GRADIENTS
}

static inline __attribute__((always_inline)) void query_gradients(const float *score_gradient, size_t rows,
                                                                  size_t key_stride, const float *key_t,
                                                                  size_t depth, float *query_gradient,
                                                                  size_t query_gradient_stride) {
    for (size_t r = 0; r < rows; r++) {
        const float *dS = score_gradient + r * key_stride;
        v16f sums[16];
        for (size_t d = 0; d < depth; d++) sums[d] = SPLAT(0);
        for (size_t j = 0; j < key_stride; j += 16) {
            const v16f dSj = LOAD(dS + j);
            for (size_t d = 0; d < depth; d++) sums[d] = FMA(dSj, LOAD(key_t + d * key_stride + j), sums[d]);
        }
        for (size_t d = 0; d < depth; d++) query_gradient[r * query_gradient_stride + d] = (float)sum_lanes(&sums[d]);
    }
}

SPM_CLONES
void spm_attention_query_gradients(const float *score_gradient, size_t rows, size_t key_stride, const float *key_t,
                                   size_t depth, float *query_gradient, size_t query_gradient_stride) {
#define QUERY_GRADIENTS(d) query_gradients(score_gradient, rows, key_stride, key_t, d, query_gradient, query_gradient_stride)
    if (depth == 4) QUERY_GRADIENTS(4);
    else if (depth == 8) QUERY_GRADIENTS(8);
    else if (depth == 16) QUERY_GRADIENTS(16);
    else QUERY_GRADIENTS(depth);
#undef QUERY_GRADIENTS
}

// Attention's forward for narrow heads: q kᵀ, softmax and P v of a row in two passes over its keys, nothing
// leaving L1 but the row's output (GEMMs of inner or outer size 4–16, and the probabilities between them, cost
// more than this arithmetic).
static inline __attribute__((always_inline)) void narrow_head_rows(
    const float *query, size_t query_stride, size_t rows, const float *key_t, const float *value_t, size_t keys,
    size_t key_stride, size_t depth, size_t value_depth, float scale, long causal, float *scores, float *output,
    size_t output_stride) {
    const v16f lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    for (size_t r = 0; r < rows; r++) {
        const float *q = query + r * query_stride;
        float *out = output + r * output_stride;
        const size_t valid = unmasked(r, keys, causal);
        // Whole vectors over the first `valid` keys; kᵀ and vᵀ are 0 past the last key.
        const size_t span = (valid + 15) / 16 * 16;
        v16f qs[16];
        for (size_t d = 0; d < depth; d++) qs[d] = SPLAT(q[d]);
        // The row's scores q·k into `scores` (scaled later, with the shift); masked keys −∞.
        for (size_t j = 0; j < span; j += 16) {
            v16f s = SPLAT(0);
            for (size_t d = 0; d < depth; d++) s = FMA(qs[d], LOAD(key_t + d * key_stride + j), s);
            if (j + 16 > valid) s = SELECT(lane < (float)(valid - j), s, SPLAT(-INFINITY));
            STORE(scores + j, s);
        }
        const float largest = valid > 0 ? softmax_shift(scores, span) : NAN;
        if (largest != largest) {
            for (size_t e = 0; e < value_depth; e++) out[e] = NAN;
            continue;
        }
        const float factor2 = scale * 1.44269504088896341f;
        const v16f factor = SPLAT(factor2), shift = SPLAT(-factor2 * largest);
        v16f sums[16];
        for (size_t e = 0; e < value_depth; e++) sums[e] = SPLAT(0);
        v16f block = SPLAT(0);
        double total = 0;
        for (size_t j = 0; j < span; j += 16) {
            v16f w = FMA(LOAD(scores + j), factor, shift);
            power_of_two_of_nonpositive(&w);
            for (size_t e = 0; e < value_depth; e++) sums[e] = FMA(w, LOAD(value_t + e * key_stride + j), sums[e]);
            block += w;
            // Lanes add up at most 64 terms in float before they join the double total.
            if ((j / 16) % 64 == 63) {
                total += sum_lanes(&block);
                block = SPLAT(0);
            }
        }
        total += sum_lanes(&block);
        for (size_t e = 0; e < value_depth; e++) out[e] = (float)(sum_lanes(&sums[e]) / total);
    }
}

SPM_CLONES
void spm_attention_narrow_head_rows(const float *query, size_t query_stride, size_t rows, const float *key_t,
                                    const float *value_t, size_t keys, size_t key_stride, size_t depth,
                                    size_t value_depth, float scale, long causal, float *scores, float *output,
                                    size_t output_stride) {
#define NARROW_HEAD_ROWS(d, e)                                                                                      \
    narrow_head_rows(query, query_stride, rows, key_t, value_t, keys, key_stride, d, e, scale, causal, scores,     \
                     output, output_stride)
    if (depth == 4 && value_depth == 4) NARROW_HEAD_ROWS(4, 4);
    else if (depth == 8 && value_depth == 8) NARROW_HEAD_ROWS(8, 8);
    else if (depth == 16 && value_depth == 16) NARROW_HEAD_ROWS(16, 16);
    else NARROW_HEAD_ROWS(depth, value_depth);
#undef NARROW_HEAD_ROWS
}
