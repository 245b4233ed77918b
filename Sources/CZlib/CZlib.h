// zlib, for gzip stub packages (tar.gz). The Debian package zlib1g-dev provides it.
#include <zlib.h>

// deflateInit2/inflateInit2 are macros; wrap them so Swift can call them.
static inline int rethink_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 15 + 16);
}
static inline int rethink_deflate_init_gzip(z_stream *stream) {
    return deflateInit2(stream, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
