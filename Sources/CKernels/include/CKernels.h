// Row kernels of the diffusion engine that spend their time in exponentials, written in C so that each is
// compiled for several instruction sets (AVX-512, AVX2, baseline) and the best one the CPU has is chosen when
// the library loads. Swift compiles for the baseline x86-64 (SSE2) and called its SIMD closure out of line for
// every 16 floats: a softmax row cost 3.6 ns per element that way and costs 0.6 ns here (1,024-long rows, one
// core); a training iteration of the reference-sized tiny model went from 5.1 to 3.2 s on one thread.
#ifndef SPM_CKERNELS_H
#define SPM_CKERNELS_H

#include <stddef.h>

/// In place, for each of `rows` rows of `length` floats `leading` apart: softmax(scale · row). With `causal` ≥ 0,
/// row r keeps only its first min(length, causal + r + 1) entries and the others become 0 (a causal mask for the
/// queries starting at position `causal`). A row with NaN becomes NaN; −∞ entries become 0.
void spm_softmax_rows(float *rows, size_t count, size_t length, size_t leading, float scale, long causal);

/// Softmax's gradient for `count` rows of probabilities p (in place over the upstream gradient g of the
/// probabilities): g ← scale · p ⊙ (g − shift[row]), where shift[row] = Σ g ⊙ p of the row (the caller's).
void spm_softmax_backward_rows(const float *probabilities, float *gradient, const float *shift, size_t count,
                               size_t length, size_t leading, float scale);

#endif
