#include "CRethinkScan.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline int is_plain(uint8_t byte) {
    return byte >= 0x20 && byte < 0x80 && byte != '"' && byte != '\\';
}

size_t rt_json_plain_run(const uint8_t *bytes, size_t count) {
    size_t index = 0;
#if defined(__SSE2__)
    const __m128i space = _mm_set1_epi8(0x20);
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    while (index + 16 <= count) {
        __m128i lanes = _mm_loadu_si128((const __m128i *)(bytes + index));
        // Signed: bytes >= 0x80 are negative, so one compare finds them and the control bytes.
        __m128i special = _mm_or_si128(_mm_cmplt_epi8(lanes, space),
                                       _mm_or_si128(_mm_cmpeq_epi8(lanes, quote), _mm_cmpeq_epi8(lanes, backslash)));
        unsigned mask = (unsigned)_mm_movemask_epi8(special);
        if (mask != 0) return index + (size_t)__builtin_ctz(mask);
        index += 16;
    }
#endif
    while (index < count && is_plain(bytes[index])) index++;
    return index;
}
