#include <stdint.h>
#include <string.h>

#include "CKernels.h"
#include "VectorMath.h"

SPM_CLONES
void spm_bfloat16_rows(const float *in, size_t rows, size_t length, size_t leading, uint16_t *out) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = in + r * leading;
        uint16_t *converted = out + r * length;
        size_t i = 0;
        for (; i + 16 <= length; i += 16) {
            const v16f v = LOAD(row + i);
            store_bfloat16(converted + i, &v);
        }
        if (i < length) {
            v16f v;
            load_partial(&v, row + i, length - i, 0);
            uint16_t lanes[16];
            store_bfloat16(lanes, &v);
            memcpy(converted + i, lanes, (length - i) * sizeof *lanes);
        }
    }
}
