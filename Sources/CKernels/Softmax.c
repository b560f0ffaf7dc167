#include "CKernels.h"
#include "VectorMath.h"

SPM_CLONES
void spm_softmax_rows(float *rows, size_t count, size_t length, size_t leading, float scale, long causal) {
    for (size_t r = 0; r < count; r++) {
        float *row = rows + r * leading;
        size_t valid = length;
        if (causal >= 0 && (size_t)causal + r + 1 < length) valid = (size_t)causal + r + 1;

        // The shift makes the largest exponent 0, so nothing overflows; NaN is skipped here and poisons the
        // row through its own exponential.
        v16f lanes = SPLAT(-INFINITY);
        size_t i = 0;
        for (; i + 16 <= valid; i += 16) {
            const v16f x = LOAD(row + i);
            lanes = SELECT(x > lanes, x, lanes);
        }
        float largest = largest_lane(&lanes);
        for (; i < valid; i++) if (row[i] > largest) largest = row[i];
        const double total = exponentials_and_sum(row, row, valid, scale, largest * scale);
        const float normaliser = (float)(1 / total);
        for (i = 0; i + 16 <= valid; i += 16) STORE(row + i, LOAD(row + i) * normaliser);
        for (; i < valid; i++) row[i] *= normaliser;
        memset(row + valid, 0, (length - valid) * sizeof(float));
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
