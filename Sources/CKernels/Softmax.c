#include "CKernels.h"
#include "VectorMath.h"

/// In place: the first `valid` of `length` floats become softmax(scale · row), the rest 0.
static inline __attribute__((always_inline)) void softmax_row(float *row, size_t valid, size_t length, float scale) {
    // The shift makes the largest exponent 0, so nothing overflows; NaN is skipped here and poisons the row
    // through its own exponential.
    v16f lanes = SPLAT(-INFINITY);
    size_t i = 0;
    for (; i + 16 <= valid; i += 16) {
        const v16f x = LOAD(row + i);
        lanes = SELECT(x > lanes, x, lanes);
    }
    float largest = largest_lane(&lanes);
    for (; i < valid; i++) if (row[i] > largest) largest = row[i];
    const float shift = largest * scale;

    // e^(scale·x − shift) and its sum. Lanes add up at most 64 terms in float before they join a double total,
    // so long rows lose no precision to the sum.
    double total = 0;
    i = 0;
    while (i + 16 <= valid) {
        v16f block = SPLAT(0);
        for (const size_t end = i + 1024 < valid ? i + 1024 : valid; i + 16 <= end; i += 16) {
            v16f e = LOAD(row + i) * scale - shift;
            exponential(&e);
            STORE(row + i, e);
            block += e;
        }
        total += sum_lanes(&block);
    }
    if (i < valid) {
        const size_t rest = valid - i;
        v16f e;
        load_partial(&e, row + i, rest, 0);
        e = e * scale - shift;
        exponential(&e);
        for (size_t j = 0; j < rest; j++) { row[i + j] = e[j]; total += e[j]; }
    }

    const float normaliser = (float)(1 / total);
    for (i = 0; i + 16 <= valid; i += 16) STORE(row + i, LOAD(row + i) * normaliser);
    for (; i < valid; i++) row[i] *= normaliser;
    memset(row + valid, 0, (length - valid) * sizeof(float));
}

/// Row r of a causal block whose first query is at position `causal` sees keys 0…causal + r (all when causal < 0).
static inline __attribute__((always_inline)) size_t visible_keys(long causal, size_t r, size_t length) {
    return causal >= 0 && (size_t)causal + r + 1 < length ? (size_t)causal + r + 1 : length;
}

SPM_CLONES
void spm_softmax_rows(float *rows, size_t count, size_t length, size_t leading, float scale, long causal) {
    for (size_t r = 0; r < count; r++) softmax_row(rows + r * leading, visible_keys(causal, r, length), length, scale);
}

SPM_CLONES
void spm_attention_rows(const float *query, size_t query_stride, const float *keys_t, const float *values_t,
                        float *out, size_t out_stride, size_t rows, size_t keys, size_t depth, size_t width,
                        float scale, long causal, float *scores) {
    for (size_t r = 0; r < rows; r++) {
        const float *q = query + r * query_stride;
        const size_t valid = visible_keys(causal, r, keys);
        // scores = q · kᵀ, 16 keys at a time: one multiply-add per dimension of the head.
        size_t j = 0;
        for (; j + 16 <= valid; j += 16) {
            v16f s = SPLAT(0);
            for (size_t d = 0; d < depth; d++) s += q[d] * LOAD(keys_t + d * keys + j);
            STORE(scores + j, s);
        }
        for (; j < valid; j++) {
            float s = 0;
            for (size_t d = 0; d < depth; d++) s += q[d] * keys_t[d * keys + j];
            scores[j] = s;
        }
        softmax_row(scores, valid, valid, scale);
        // out = p · v: one dot product over the visible keys per output feature.
        float *o = out + r * out_stride;
        for (size_t e = 0; e < width; e++) {
            const float *v = values_t + e * keys;
            v16f lanes = SPLAT(0);
            for (j = 0; j + 16 <= valid; j += 16) lanes += LOAD(scores + j) * LOAD(v + j);
            double total = sum_lanes(&lanes);
            for (; j < valid; j++) total += scores[j] * v[j];
            o[e] = (float)total;
        }
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
