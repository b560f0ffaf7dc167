// The diffusion engine's kernels that spend their time in exponentials (softmax, SiLU, GELU, sigmoid, e^x),
// written in C so that each is compiled for several instruction sets (AVX-512, AVX2, baseline) and the best one
// the CPU has is chosen when the library loads. Swift compiles for the baseline x86-64 (SSE2) and called its SIMD
// closure out of line for every 16 floats: a softmax row cost 3.6 ns per element that way and costs 0.6 ns here
// (1,024-long rows, one core); a training iteration of the reference-sized tiny model went from 5.1 to 3.2 s on
// one thread. Beside them, the conversion that feeds bf16 products their operands.
#ifndef SPM_CKERNELS_H
#define SPM_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// In place, for each of `rows` rows of `length` floats `leading` apart: softmax(scale · row). With `causal` ≥ 0,
/// row r keeps only its first min(length, causal + r + 1) entries and the others become 0 (a causal mask for the
/// queries starting at position `causal`). A row with NaN becomes NaN; −∞ entries become 0.
void spm_softmax_rows(float *rows, size_t count, size_t length, size_t leading, float scale, long causal);

/// Softmax's gradient for `count` rows of probabilities p (in place over the upstream gradient g of the
/// probabilities): g ← scale · p ⊙ (g − shift[row]), where shift[row] = Σ g ⊙ p of the row (the caller's).
void spm_softmax_backward_rows(const float *probabilities, float *gradient, const float *shift, size_t count,
                               size_t length, size_t leading, float scale);

/// out = e^in, elementwise; within 2 ulp over the whole float range (+∞ past 88.72, subnormals, NaN kept).
void spm_exp(const float *in, float *out, size_t count);
/// out = 1 / (1 + e^(−in)), with no overflow for any input.
void spm_sigmoid(const float *in, float *out, size_t count);
/// out = GELU(in) with the error function (PyTorch's approximate="none"; erf by Abramowitz & Stegun 7.1.26, as
/// PyTorch's vectorised kernel), and its derivative Φ(x) + x·φ(x).
void spm_gelu(const float *in, float *out, size_t count);
void spm_gelu_derivative(const float *in, float *out, size_t count);
/// out = SiLU(scale · in + shift) (GroupNorm's affine step fused with the SiLU after it; 1 and 0 for plain SiLU),
/// and the backward: out = upstream · SiLU′(scale · in + shift).
void spm_affine_silu(const float *in, float *out, size_t count, float scale, float shift);
void spm_affine_silu_backward(const float *in, const float *upstream, float *out, size_t count, float scale,
                              float shift);
/// GEGLU on two halves: out = a · GELU(b); backward: gradient_a = g · GELU(b), gradient_b = g · GELU′(b) · a.
void spm_geglu(const float *a, const float *b, float *out, size_t count);
void spm_geglu_backward(const float *upstream, const float *a, const float *b, float *gradient_a, float *gradient_b,
                        size_t count);
/// Σ e^(row[i] − shift), summed in double (log-softmax's normaliser).
double spm_sum_exp(const float *row, size_t count, float shift);

/// `rows` rows of `length` floats, `leading` apart, rounded to bfloat16 (to nearest, ties to even; NaN stays a
/// NaN) into `out`, `length` apart: the operands of bf16 products.
void spm_bfloat16_rows(const float *in, size_t rows, size_t length, size_t leading, uint16_t *out);

#endif
