#include <stdint.h>
#include <string.h>

#include "CKernels.h"
#include "VectorMath.h"

// Rounds to the nearest bfloat16, ties to even, on the bits (the rounding of oneDNN's reorders, PyTorch's
// `.to(torch.bfloat16)` and AVX-512 BF16's vcvtneps2bf16). A NaN keeps its sign and becomes a quiet NaN: adding
// the rounding bias to its bits could carry it into an infinity. Written as plain integer arithmetic, which the
// compiler vectorises for each clone.
SPM_CLONES
void spm_bfloat16_rows(const float *in, size_t rows, size_t length, size_t leading, uint16_t *out) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = in + r * leading;
        uint16_t *converted = out + r * length;
        for (size_t i = 0; i < length; i++) {
            uint32_t bits;
            memcpy(&bits, row + i, sizeof bits);
            const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
            const int isNaN = (bits & 0x7FFFFFFFu) > 0x7F800000u;
            converted[i] = isNaN ? (uint16_t)((bits >> 16) | 0x0040u) : (uint16_t)rounded;
        }
    }
}
