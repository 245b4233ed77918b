#ifndef CRETHINKSCAN_H
#define CRETHINKSCAN_H

#include <stddef.h>
#include <stdint.h>

/// The length of the run of bytes at the start of `bytes[0..<count]` that a JSON string scan need not look at:
/// printable ASCII (0x20..0x7F) other than the quote and the backslash.
///
/// Why C: the scan runs over every string byte of every routed message, and Swift's SIMD16 compares compiled to
/// per-lane loops here (ten times slower than the eight-byte word scan they were to replace); SSE2 takes sixteen
/// bytes in four instructions.
size_t rt_json_plain_run(const uint8_t *bytes, size_t count);

#endif
