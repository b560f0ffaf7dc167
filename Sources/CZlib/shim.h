#include <zlib.h>

// inflateInit2 is a macro, which Swift cannot call: this wrapper opens a stream that reads the gzip format.
static inline int czlib_inflate_init_gzip(z_streamp stream) {
    return inflateInit2(stream, 16 + MAX_WBITS);
}
