#include "CKernels.h"
#include "VectorMath.h"

// out[i] = OP(in[i]) for an in-place vector function OP; the last partial vector goes through a zero-padded copy.
#define UNARY_KERNEL(name, op)                                                                                    \
    SPM_CLONES void name(const float *in, float *out, size_t count) {                                            \
        size_t i = 0;                                                                                             \
        for (; i + 16 <= count; i += 16) {                                                                        \
            v16f v = LOAD(in + i);                                                                                \
            op(&v);                                                                                               \
            STORE(out + i, v);                                                                                    \
        }                                                                                                         \
        if (i < count) {                                                                                          \
            v16f v;                                                                                               \
            load_partial(&v, in + i, count - i, 0);                                                               \
            op(&v);                                                                                               \
            store_partial(out + i, &v, count - i);                                                                \
        }                                                                                                         \
    }

UNARY_KERNEL(spm_exp, exponential)
UNARY_KERNEL(spm_sigmoid, logistic)
UNARY_KERNEL(spm_gelu, gelu)
UNARY_KERNEL(spm_gelu_derivative, gelu_derivative)

SPM_CLONES
void spm_affine_silu(const float *in, float *out, size_t count, float scale, float shift) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        const v16f y = LOAD(in + i) * scale + shift;
        v16f s = y;
        logistic(&s);
        STORE(out + i, y * s);
    }
    if (i < count) {
        v16f y;
        load_partial(&y, in + i, count - i, 0);
        y = y * scale + shift;
        v16f s = y;
        logistic(&s);
        s = y * s;
        store_partial(out + i, &s, count - i);
    }
}

SPM_CLONES
void spm_affine_silu_backward(const float *in, const float *upstream, float *out, size_t count, float scale,
                              float shift) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        v16f d = LOAD(in + i) * scale + shift;
        silu_derivative(&d);
        STORE(out + i, LOAD(upstream + i) * d);
    }
    if (i < count) {
        v16f d, g;
        load_partial(&d, in + i, count - i, 0);
        load_partial(&g, upstream + i, count - i, 0);
        d = d * scale + shift;
        silu_derivative(&d);
        d = g * d;
        store_partial(out + i, &d, count - i);
    }
}

SPM_CLONES
void spm_geglu(const float *a, const float *b, float *out, size_t count) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        v16f g = LOAD(b + i);
        gelu(&g);
        STORE(out + i, LOAD(a + i) * g);
    }
    if (i < count) {
        v16f x, g;
        load_partial(&x, a + i, count - i, 0);
        load_partial(&g, b + i, count - i, 0);
        gelu(&g);
        g = x * g;
        store_partial(out + i, &g, count - i);
    }
}

SPM_CLONES
void spm_geglu_backward(const float *upstream, const float *a, const float *b, float *gradient_a, float *gradient_b,
                        size_t count) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        const v16f g = LOAD(upstream + i);
        v16f value = LOAD(b + i), slope = value;
        gelu(&value);
        gelu_derivative(&slope);
        STORE(gradient_a + i, g * value);
        STORE(gradient_b + i, g * slope * LOAD(a + i));
    }
    if (i < count) {
        const size_t rest = count - i;
        v16f g, x, value;
        load_partial(&g, upstream + i, rest, 0);
        load_partial(&x, a + i, rest, 0);
        load_partial(&value, b + i, rest, 0);
        v16f slope = value;
        gelu(&value);
        gelu_derivative(&slope);
        value = g * value;
        slope = g * slope * x;
        store_partial(gradient_a + i, &value, rest);
        store_partial(gradient_b + i, &slope, rest);
    }
}

// Lanes add up at most 64 terms in float before they join a double total, so long rows lose no precision to the
// sum.
SPM_CLONES
double spm_sum_exp(const float *row, size_t count, float shift) {
    double total = 0;
    size_t i = 0;
    while (i + 16 <= count) {
        v16f block = SPLAT(0);
        for (const size_t end = i + 1024 < count ? i + 1024 : count; i + 16 <= end; i += 16) {
            v16f e = LOAD(row + i) - shift;
            exponential(&e);
            block += e;
        }
        total += sum_lanes(&block);
    }
    if (i < count) {
        const size_t rest = count - i;
        v16f e;
        load_partial(&e, row + i, rest, 0);
        e = e - shift;
        exponential(&e);
        for (size_t j = 0; j < rest; j++) total += e[j];
    }
    return total;
}
