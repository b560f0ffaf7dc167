// The diffusion engine's kernels that spend their time in exponentials (softmax, SiLU, GELU, sigmoid, e^x),
// written in C so that each is compiled for several instruction sets (AVX-512, AVX2, baseline) and the best one
// the CPU has is chosen when the library loads. Swift compiles for the baseline x86-64 (SSE2) and called its SIMD
// closure out of line for every 16 floats: a softmax row cost 3.6 ns per element that way, 0.6 ns here with the
// general exponential and 0.22 ns with softmax's own (1,024–3,136-long rows, one core). Beside them, the
// conversion that feeds bf16 products their operands, and attention's fused kernels for narrow heads.
#ifndef SPM_CKERNELS_H
#define SPM_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// In place, for each of `rows` rows of `length` floats `leading` apart: softmax(scale · row). With `causal` ≥ 0,
/// row r keeps only its first min(length, causal + r + 1) entries and the others become 0 (a causal mask for the
/// queries starting at position `causal`). A row with NaN or +∞, or with nothing above −∞, becomes NaN; −∞
/// entries become 0, and so do entries more than 86.5 below the row's largest (after scaling).
void spm_softmax_rows(float *rows, size_t count, size_t length, size_t leading, float scale, long causal);

/// Attention's softmax with the division left to the caller, who applies it to the few outputs instead of the
/// many probabilities: for each row, the numerators e^(scale·(x − max)) — in place, or rounded to bf16 into `out`
/// (`length` apart) when `out` is not NULL — and 1 / their sum into `normalisers[row]`. `causal` as for
/// `spm_softmax_rows` (masked entries 0). A row whose softmax is NaN (a NaN entry, +∞, nothing above −∞) gets
/// NaN numerators and a NaN normaliser.
void spm_softmax_numerators(float *rows, size_t count, size_t length, size_t leading, float scale, long causal,
                            uint16_t *out, float *normalisers);

/// Softmax's gradient for `count` rows of probabilities p (in place over the upstream gradient g of the
/// probabilities): g ← scale · p ⊙ (g − shift[row]), where shift[row] = Σ g ⊙ p of the row (the caller's).
void spm_softmax_backward_rows(const float *probabilities, float *gradient, const float *shift, size_t count,
                               size_t length, size_t leading, float scale);

/// Attention's forward for one head and `rows` queries when heads have at most 16 dimensions: each output row
/// (`output_stride` apart) is softmax(scale · q kᵀ) v for its query row (`query_stride` apart, unit stride within),
/// from kᵀ ([depth][key_stride]) and vᵀ ([value_depth][key_stride]), where `key_stride` is `keys` rounded up to a
/// multiple of 16 and the columns past `keys` are 0; `causal` as for `spm_softmax_rows`; `scores` holds
/// `key_stride` floats of scratch. All in fp32. A row whose softmax is NaN (see `spm_softmax_numerators`) gets NaN
/// outputs.
void spm_attention_narrow_head_rows(const float *query, size_t query_stride, size_t rows, const float *key_t,
                                    const float *value_t, size_t keys, size_t key_stride, size_t depth,
                                    size_t value_depth, float scale, long causal, float *scores, float *output,
                                    size_t output_stride);

/// Attention's backward for one head and one block of `rows` queries, with the forward's narrow heads and
/// `key_stride`. With P the block's probabilities ([rows][key_stride], 0 past the last key), dO the output's
/// gradient and D[row] = Σ dO ⊙ O of each row: for keys in [first, end) (multiples of 16), dVᵀ += (Pᵀ dO)ᵀ into
/// `value_gradient_t` ([value_depth][key_stride]) and dKᵀ += (dSᵀ q)ᵀ into `key_gradient_t` ([depth][key_stride])
/// (either may be NULL), where dS = scale · P ⊙ (dO vᵀ − D) replaces P in `probabilities`. vᵀ is 0 past the last
/// key; q and dO rows have unit stride. Disjoint key ranges may run concurrently; each key's sums run over the
/// rows in order, so the result does not depend on how the keys are split.
void spm_attention_key_gradients(float *probabilities, size_t rows, size_t key_stride, size_t first, size_t end,
                                 const float *output_gradient, size_t output_gradient_stride, const float *row_dots,
                                 const float *query, size_t query_stride, const float *value_t, size_t depth,
                                 size_t value_depth, float scale, float *key_gradient_t, float *value_gradient_t);
/// Then dQ = dS k for the block's rows (written, `query_gradient_stride` apart), from kᵀ ([depth][key_stride]).
void spm_attention_query_gradients(const float *score_gradient, size_t rows, size_t key_stride, const float *key_t,
                                   size_t depth, float *query_gradient, size_t query_gradient_stride);

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
